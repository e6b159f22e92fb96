"""Rasa-side package of Sahayak: language handling, NLU components, response localisation, CLI."""
import os

# Rasa reports usage and crashes to its servers unless told not to; crash reports can carry user messages.
# Every process of the stack imports this package (the custom components and the NLG live here), so this holds
# for `rasa run`, `rasa train` and `rasa test` started by us as well as by hand.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
