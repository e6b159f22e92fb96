"""Sahayak's action server (`rasa run actions --actions actions`): one module per capability."""
from actions import fallback, knowledge_base, language, session, stock, ticket_form, tickets  # noqa: F401  (registers the actions)
