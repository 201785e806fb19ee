"""Wire protocols: TensorFlow Serving REST (``v1``) and Open Inference Protocol V2 (``v2``),
their payloads as typed models (``types``), to and from (N, F) arrays. Knows nothing of HTTP
servers."""
