"""Rasa-side package of Sahayak: language handling, NLU components, response localisation, CLI."""
