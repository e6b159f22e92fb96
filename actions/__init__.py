"""Sahayak's action server (`rasa run actions --actions actions`): one module per capability."""
from actions import fallback, handoff, knowledge_base, language, session, stock, ticket_form, tickets  # noqa: F401  (registers the actions)
