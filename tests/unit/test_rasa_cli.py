import os
import subprocess
import sys


def sentry_client_after(module, home):
    """Whether Rasa's command line, started through ``module``, set up its Sentry client."""
    code = ("import runpy, sys, sentry_sdk; sys.argv = ['rasa', 'telemetry', 'disable']\n"
            f"try:\n    runpy.run_module({module!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('SENTRY_CLIENT', sentry_sdk.Hub.current.client is not None)")
    # Worst case: telemetry switched on, in a home of its own so that nothing here changes the user's settings.
    env = {**os.environ, "HOME": str(home), "RASA_TELEMETRY_ENABLED": "true"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    return "SENTRY_CLIENT True" in output.stdout


def test_rasa_started_through_bot_rasa_cli_reports_no_crashes_to_sentry(tmp_path):
    assert sentry_client_after("rasa", tmp_path), "plain rasa starts Sentry: the check below would not notice otherwise"
    assert not sentry_client_after("bot.rasa_cli", tmp_path)
