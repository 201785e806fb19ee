"""modelserve: serve Keras models trained on a development server to users in production."""

__version__ = "0.1.0"
