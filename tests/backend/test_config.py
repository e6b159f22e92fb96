from __future__ import annotations

import stat
from pathlib import Path

import pytest

from backend import config
from backend.config import ConfigError, load_settings


def load(tmp_path: Path, **env: str) -> config.Settings:
    return load_settings(environ=env, env_file=None, var_dir=tmp_path / "var")


def problems(tmp_path: Path, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **env)
    return info.value.problems


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'var' / 'sahayak.db').resolve()}"
    assert (tmp_path / "var").is_dir()
    assert (settings.backend_host, settings.backend_port) == ("127.0.0.1", 8000)
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.translation_provider == "none"
    assert settings.translation_timeout == 5.0
    assert settings.default_language == "en"
    assert settings.admin_api_key is None and settings.rasa_token is None


def test_bad_port_message(tmp_path: Path) -> None:
    assert problems(tmp_path, BACKEND_PORT="abc") == [
        "BACKEND_PORT must be a port number 1-65535, got 'abc'"
    ]
    assert problems(tmp_path, BACKEND_PORT="70000") == [
        "BACKEND_PORT must be a port number 1-65535, got '70000'"
    ]


def test_every_problem_is_listed(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        BACKEND_PORT="0",
        RASA_URL="localhost:5005",
        TRANSLATION_PROVIDER="deepl",
        TRANSLATION_TIMEOUT="-1",
        DEFAULT_LANGUAGE="english!",
        DATABASE_URL="mysql://u:p@h/d",
    )
    assert len(found) == 6
    text = "\n".join(found)
    for fragment in (
        "BACKEND_PORT must be a port number",
        "RASA_URL must be an http:// or https:// URL",
        "TRANSLATION_PROVIDER must be one of none, google, libre, got 'deepl'",
        "TRANSLATION_TIMEOUT must be a number of seconds",
        "DEFAULT_LANGUAGE must be a language tag",
        "DATABASE_URL must be a sqlite or postgresql URL",
    ):
        assert fragment in text
    with pytest.raises(ConfigError) as info:
        load(tmp_path, BACKEND_PORT="x", TRANSLATION_TIMEOUT="soon")
    assert str(info.value).startswith("Invalid configuration:\n  - ")


def test_libre_requires_url(tmp_path: Path) -> None:
    assert problems(tmp_path, TRANSLATION_PROVIDER="libre") == [
        "LIBRETRANSLATE_URL is required when TRANSLATION_PROVIDER is 'libre'"
    ]
    settings = load(tmp_path, TRANSLATION_PROVIDER="LIBRE", LIBRETRANSLATE_URL="http://lt:5000/")
    assert settings.translation_provider == "libre"
    assert settings.libretranslate_url == "http://lt:5000"


def test_database_url_errors_do_not_echo_passwords(tmp_path: Path) -> None:
    found = problems(tmp_path, DATABASE_URL="not a url with secretpw")
    assert "secretpw" not in "".join(found)
    assert found == [
        "DATABASE_URL is not a valid database URL (expected e.g. sqlite:///path or postgresql://...)"
    ]
    assert "postgresql://" in problems(tmp_path, DATABASE_URL="postgres://u:pw@h/db")[0]


def test_relative_sqlite_path_is_anchored_at_repo_root(tmp_path: Path) -> None:
    settings = load(tmp_path, DATABASE_URL="sqlite:///backend/x.db")
    assert settings.database_url == f"sqlite:///{config.REPO_ROOT / 'backend' / 'x.db'}"
    assert "missing directory" in problems(tmp_path, DATABASE_URL="sqlite:///no/such/dir/x.db")[0]


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BACKEND_PORT=9000\nRASA_URL=http://rasa:5005\nADMIN_API_KEY=from-file\n")
    settings = load_settings(
        environ={"BACKEND_PORT": "9100"}, env_file=env_file, var_dir=tmp_path / "var"
    )
    assert settings.backend_port == 9100
    assert settings.rasa_url == "http://rasa:5005"
    assert settings.admin_api_key == "from-file"


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, ADMIN_API_KEY="", BACKEND_PORT="  ", WEBCHAT_SECRET="s")
    assert settings.admin_api_key is None
    assert settings.backend_port == 8000


def test_describe_and_repr_hide_secrets(tmp_path: Path) -> None:
    secrets = {
        "RASA_TOKEN": "rasa-tok-1",
        "ADMIN_API_KEY": "admin-key-2",
        "WEBCHAT_SECRET": "webchat-3",
        "LIBRETRANSLATE_API_KEY": "libre-4",
        "TELEGRAM_BOT_TOKEN": "tg-5",
        "TWILIO_ACCOUNT_SID": "AC-6",
        "TWILIO_AUTH_TOKEN": "twilio-7",
    }
    settings = load(
        tmp_path,
        DATABASE_URL="postgresql://app:dbpass-8@db/sahayak",
        RASA_URL="http://u:rasapw-9@rasa:5005",
        **secrets,
    )
    described = settings.describe()
    dumped = repr(described) + repr(settings)
    for value in [*secrets.values(), "dbpass-8", "rasapw-9"]:
        assert value not in dumped
    assert described["admin_api_key"] == "set"
    assert described["database_url"] == "postgresql://app:***@db/sahayak"
    assert load(tmp_path, WEBCHAT_SECRET="x").describe()["telegram_bot_token"] == "not set"


def test_webchat_secret_generated_once_with_private_permissions(tmp_path: Path) -> None:
    first = load(tmp_path).webchat_secret
    secret_file = tmp_path / "var" / "webchat.secret"
    assert len(first) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert load(tmp_path).webchat_secret == first
    assert load(tmp_path, WEBCHAT_SECRET="explicit").webchat_secret == "explicit"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path)
    with pytest.raises(Exception):
        settings.backend_port = 1  # type: ignore[misc]


def test_get_settings_is_cached_and_reload_rereads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_VAR_DIR", tmp_path / "var")
    monkeypatch.setattr(config, "DEFAULT_ENV_FILE", tmp_path / "missing.env")
    monkeypatch.setenv("BACKEND_PORT", "8123")
    monkeypatch.setenv("WEBCHAT_SECRET", "s")
    first = config.reload_settings()
    assert first.backend_port == 8123
    monkeypatch.setenv("BACKEND_PORT", "8124")
    assert config.get_settings() is first
    assert config.reload_settings().backend_port == 8124
