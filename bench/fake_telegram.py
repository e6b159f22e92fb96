"""The tests' FakeTelegram with a hook on every accepted sendMessage, to time replies."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.telegram import FakeTelegram  # noqa: E402


class BenchTelegram(FakeTelegram):
    """FakeTelegram that calls :meth:`accepted` for each sendMessage."""

    def accepted(self, params: dict) -> None:
        """Called in the server's thread after a sendMessage was accepted (before the answer is written)."""

    def _m_sendmessage(self, params: dict, files: dict) -> dict:
        result = super()._m_sendmessage(params, files)
        self.accepted(params)
        return result
