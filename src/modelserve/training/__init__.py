"""Training, legacy import and export to bundles. Everything here needs the ``train`` extra;
importing this package alone does not import Keras."""
