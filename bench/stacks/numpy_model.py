"""The bundle's network as a bare NumPy forward pass, for the stacks that are not modelserve
(the bare limit, BentoML, Ray Serve): the same computation, none of modelserve's code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class NumpyModel:
    def __init__(self, bundle: Path):
        bundle = Path(bundle)
        meta = json.loads((bundle / "metadata.json").read_text())
        with np.load(bundle / "weights.npz") as arrays:
            pairs = [
                (arrays[f"layer{i}/kernel"], arrays[f"layer{i}/bias"])
                for i in range(len(meta["layers"]))
            ]
        mean = np.asarray(meta["normalisation"]["mean"])
        std = np.asarray(meta["normalisation"]["std"])
        kernel, bias = pairs[0]
        pairs[0] = (kernel / std[:, None], bias - (mean / std) @ kernel)
        self.layers = [
            (k.astype(np.float32), b.astype(np.float32), layer["activation"])
            for (k, b), layer in zip(pairs, meta["layers"], strict=True)
        ]

    def predict(self, rows) -> np.ndarray:
        x = np.asarray(rows, dtype=np.float32)
        for kernel, bias, activation in self.layers:
            x = x @ kernel + bias
            x = np.maximum(x, 0) if activation == "relu" else 0.5 * (1 + np.tanh(0.5 * x))
        return x
