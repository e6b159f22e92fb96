"""`python -m bot.rasa_cli ARGS`: Rasa's own command line, without its crash reports to Sentry.

Rasa 3.6 sends the stack traces of its exceptions to Sentry whenever its packaged key is present, whatever
RASA_TELEMETRY_ENABLED says, and no setting turns that off. Conversations are our users' data and do not leave
the machine, so every Rasa process of Sahayak starts through this module instead of `rasa`.
"""
import os
import sys

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import rasa.telemetry  # noqa: E402

rasa.telemetry.initialize_error_reporting = lambda: None

from rasa.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
