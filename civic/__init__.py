"""The civic command line."""
