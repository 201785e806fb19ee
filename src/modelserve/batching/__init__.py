"""Adaptive batching: gather concurrent calls, one model call, fan the answers out."""

from modelserve.batching.batcher import AdaptiveBatcher

__all__ = ["AdaptiveBatcher"]
