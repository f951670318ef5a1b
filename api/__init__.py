"""The city's HTTP service: the only package that imports fastapi."""
