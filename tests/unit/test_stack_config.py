import pytest

from bot.stack import StackConfig, StackConfigError


def test_defaults_are_the_conventional_loopback_ports(monkeypatch):
    for name in ("RASA_HOST", "RASA_PORT", "ACTION_PORT", "BACKEND_PORT", "BACKEND_HOST", "RASA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = StackConfig.from_env()
    assert (config.rasa_host, config.rasa_port, config.action_port, config.backend_port) == ("127.0.0.1", 5005, 5055, 8000)
    assert config.chat_url == "http://127.0.0.1:8000/"


def test_rasa_beyond_loopback_requires_a_token(monkeypatch):
    monkeypatch.setenv("RASA_HOST", "0.0.0.0")
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    with pytest.raises(StackConfigError, match="RASA_TOKEN"):
        StackConfig.from_env()
    monkeypatch.setenv("RASA_TOKEN", "s3cret")
    assert StackConfig.from_env().rasa_url == "http://127.0.0.1:5005"


def test_bad_and_clashing_ports_are_named(monkeypatch):
    monkeypatch.setenv("RASA_PORT", "abc")
    monkeypatch.setenv("ACTION_PORT", "8000")
    monkeypatch.setenv("BACKEND_PORT", "8000")
    with pytest.raises(StackConfigError) as error:
        StackConfig.from_env()
    assert "RASA_PORT must be a port number" in str(error.value)
    assert "must differ" in str(error.value)
