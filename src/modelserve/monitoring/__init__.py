"""Knowing how a model does in production: the prediction log, feedback (delayed labels),
live accuracy and input drift.

``log`` records what was served; ``feedback`` attaches the truth once it is known;
``monitor`` measures both against the model's training data; ``database`` holds them.
"""
