"""The embedded model server: loads SavedModels with TensorFlow and speaks TF Serving's gRPC API."""

from model_server.batching_parameters import DEFAULT_BATCHING_CONFIG, BatchingParameters
from model_server.server import EmbeddedServer, local_server, serve

__all__ = ["DEFAULT_BATCHING_CONFIG", "BatchingParameters", "EmbeddedServer", "local_server", "serve"]
