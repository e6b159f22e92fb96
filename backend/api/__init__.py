"""HTTP API (FastAPI). Run with ``uvicorn backend.api.app:app``."""
