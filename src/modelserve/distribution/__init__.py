"""Model versions from the web node (the push target, the source of truth) to worker nodes,
over RabbitMQ: ``server`` answers from the web node's store, ``client`` asks for a version a
worker lacks, and the worker's store verifies and installs it (``ModelStore.mirror``)."""
