"""The fast runtime: the network's forward pass in NumPy, with no deep-learning framework."""

from __future__ import annotations

import numpy as np

from modelserve.runtime.base import ModelRuntime


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(x / 2)) equals the logistic function and cannot overflow for large |x|.
    x *= 0.5
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


def _linear(x: np.ndarray) -> np.ndarray:
    return x


ACTIVATIONS = {"relu": _relu, "sigmoid": _sigmoid, "tanh": _tanh, "linear": _linear}


class NumpyRuntime(ModelRuntime):
    def load(self) -> NumpyRuntime:
        pairs = self.bundle.weights()
        kernel, bias = (a.astype(np.float64) for a in pairs[0])
        norm = self.metadata.normalisation
        if norm is not None:
            # Fold (x - mean) / std into the first layer: one matmul fewer per call.
            mean = np.asarray(norm.mean, dtype=np.float64)
            std = np.asarray(norm.std, dtype=np.float64)
            kernel = kernel / std[:, None]
            bias = bias - (mean / std) @ pairs[0][0].astype(np.float64)
        pairs = [(kernel, bias), *pairs[1:]]
        self._layers = [
            (
                np.ascontiguousarray(k, dtype=np.float32),
                np.ascontiguousarray(b, dtype=np.float32),
                ACTIVATIONS[layer.activation],
            )
            for (k, b), layer in zip(pairs, self.metadata.layers, strict=True)
        ]
        return self

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = self.check_batch(batch)
        for kernel, bias, activation in self._layers:
            x = x @ kernel
            x += bias
            x = activation(x)
        return x
