"""The network modelserve trains: the tutorial's classifier, with its inputs normalised."""

from __future__ import annotations

import numpy as np

from modelserve.training.keras_env import keras

HIDDEN_LAYERS = ((12, "relu"), (8, "relu"))


def build_classifier(train_features: np.ndarray) -> keras.Model:
    """Dense 12 relu -> Dense 8 relu -> Dense 1 sigmoid, normalisation fitted on training rows."""
    normalisation = keras.layers.Normalization(name="normalisation")
    normalisation.adapt(train_features)
    model = keras.Sequential(
        [
            keras.Input(shape=(train_features.shape[1],), name="features"),
            normalisation,
            *(keras.layers.Dense(units, activation=act) for units, act in HIDDEN_LAYERS),
            keras.layers.Dense(1, activation="sigmoid", name="probability"),
        ]
    )
    return model
