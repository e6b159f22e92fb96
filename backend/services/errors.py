"""The error a service raises when a rule forbids a step."""
from __future__ import annotations


class ServiceError(ValueError):
    """A step the rules do not allow; ``code`` names the reason, for the conversation or the API to explain."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
