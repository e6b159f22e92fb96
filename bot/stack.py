"""Ports and addresses of the three servers, from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class StackConfigError(ValueError):
    pass


def _port(name: str, default: int, problems: list[str]) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        problems.append(f"{name} must be a port number 1-65535, got {raw!r}")
        return default
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    rasa_host: str
    rasa_port: int
    action_port: int
    backend_host: str
    backend_port: int
    rasa_token: str | None

    @classmethod
    def from_env(cls) -> "StackConfig":
        problems: list[str] = []
        config = cls(
            rasa_host=os.environ.get("RASA_HOST", "127.0.0.1"),
            rasa_port=_port("RASA_PORT", 5005, problems),
            action_port=_port("ACTION_PORT", 5055, problems),
            backend_host=os.environ.get("BACKEND_HOST", "127.0.0.1"),
            backend_port=_port("BACKEND_PORT", 8000, problems),
            rasa_token=os.environ.get("RASA_TOKEN") or None,
        )
        if config.rasa_host not in LOOPBACK and not config.rasa_token:
            problems.append(
                f"RASA_HOST is {config.rasa_host!r}, beyond loopback: set RASA_TOKEN so that Rasa's HTTP API "
                "requires a token"
            )
        if len({config.rasa_port, config.action_port, config.backend_port}) < 3:
            problems.append("RASA_PORT, ACTION_PORT and BACKEND_PORT must differ")
        if problems:
            raise StackConfigError("; ".join(problems))
        return config

    @property
    def rasa_url(self) -> str:
        host = "127.0.0.1" if self.rasa_host in ("0.0.0.0", "::") else self.rasa_host
        return f"http://{host}:{self.rasa_port}"

    @property
    def chat_url(self) -> str:
        host = "127.0.0.1" if self.backend_host in ("0.0.0.0", "::") else self.backend_host
        return f"http://{host}:{self.backend_port}/"

    def environment(self) -> dict[str, str]:
        """Variables every process of the stack gets, so that they agree on where the others are."""
        return {
            "RASA_URL": self.rasa_url,
            "ACTION_PORT": str(self.action_port),
            "RASA_PORT": str(self.rasa_port),
            "BACKEND_PORT": str(self.backend_port),
        }
