"""Microseconds per predict() call: the NumPy runtime beside Keras' predict_on_batch.

    python bench/runtime.py [--bundle PATH]

Uses the shipped demo bundle unless told otherwise; rows are drawn from the demo dataset.
"""

from __future__ import annotations

import argparse
import platform
import timeit
from pathlib import Path

import numpy as np

from modelserve.bundles import Bundle
from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path, demo_dataset_path

BATCH_SIZES = (1, 64, 1024)


def per_call_us(fn, min_seconds: float = 0.5) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, int(number * min_seconds / 0.2))
    best = min(timer.repeat(repeat=5, number=number))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=demo_bundle_path())
    args = parser.parse_args()

    bundle = Bundle.open(args.bundle)
    features = read_csv(demo_dataset_path()).features
    rng = np.random.default_rng(0)
    runtimes = {"numpy": load_runtime(bundle), "keras": load_runtime(bundle, "keras")}

    print(
        f"{bundle.name} v{bundle.version} on {platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}"
    )
    print(f"{'batch':>6} {'numpy µs':>10} {'keras µs':>10} {'speed-up':>9}")
    for size in BATCH_SIZES:
        batch = features[rng.integers(0, len(features), size)]
        fast = per_call_us(lambda b=batch: runtimes["numpy"].predict(b))
        slow = per_call_us(lambda b=batch: runtimes["keras"].predict(b))
        print(f"{size:>6} {fast:>10.1f} {slow:>10.1f} {slow / fast:>8.0f}x")


if __name__ == "__main__":
    main()
