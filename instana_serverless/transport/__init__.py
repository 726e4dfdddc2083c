"""Getting bytes to the Instana endpoint. Knows HTTP, endpoints and keys; nothing of spans."""

from .endpoint import Endpoint, EndpointError, parse_endpoint

__all__ = ["Endpoint", "EndpointError", "parse_endpoint"]
