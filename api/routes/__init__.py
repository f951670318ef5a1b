"""The service's routers, one per topic, each under /v1."""
