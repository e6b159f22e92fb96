"""Background processes, each run as ``python -m backend.workers.<name>``."""
