"""Sahayak's action server (`rasa run actions --actions actions`): one module per capability."""
from actions import fallback, language, session  # noqa: F401  (registers the actions)
