"""edge: an HTTP caching reverse proxy."""
