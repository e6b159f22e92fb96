"""Settings loaded from the environment, with optional ``.env`` at the repo root.

Values already in the process environment win over the ``.env`` file. Every
problem found is reported at once in a single :class:`ConfigError`.
"""
from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = REPO_ROOT / ".env"
DEFAULT_VAR_DIR = REPO_ROOT / "var"
WEBCHAT_SECRET_FILE = "webchat.secret"

TRANSLATION_PROVIDERS = ("none", "google", "libre")
SUPPORTED_DATABASES = ("sqlite", "postgresql")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class ConfigError(ValueError):
    """Invalid configuration. ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        )


@dataclass(frozen=True)
class Settings:
    database_url: str
    backend_host: str = "127.0.0.1"
    backend_port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: Optional[str] = field(default=None, repr=False)
    admin_api_key: Optional[str] = field(default=None, repr=False)
    agent_api_keys: dict[str, str] = field(default_factory=dict, repr=False)  # agent name -> key
    webchat_secret: str = field(default="", repr=False)
    translation_provider: str = "none"
    libretranslate_url: Optional[str] = None
    libretranslate_api_key: Optional[str] = field(default=None, repr=False)
    translation_timeout: float = 5.0
    telegram_bot_token: Optional[str] = field(default=None, repr=False)
    twilio_account_sid: Optional[str] = field(default=None, repr=False)
    twilio_auth_token: Optional[str] = field(default=None, repr=False)
    twilio_whatsapp_from: Optional[str] = None
    twilio_sms_from: Optional[str] = None
    default_language: str = "en"
    ticket_auto_close_days: int = 3
    helpdesk_job_interval: float = 60.0
    support_hours: str = ""  # empty: a person is always there (backend/services/office_hours.py)
    support_timezone: str = "Asia/Kolkata"

    def __repr__(self) -> str:
        return f"Settings({self.describe()!r})"

    def describe(self) -> dict[str, Any]:
        """Settings that are safe to log: secrets appear only as "set"/"not set"."""

        def flag(value: Optional[str]) -> str:
            return "set" if value else "not set"

        return {
            "database_url": make_url(self.database_url).render_as_string(hide_password=True),
            "backend_host": self.backend_host,
            "backend_port": self.backend_port,
            "rasa_url": _redact_url(self.rasa_url),
            "rasa_token": flag(self.rasa_token),
            "admin_api_key": flag(self.admin_api_key),
            "agent_api_keys": sorted(self.agent_api_keys),
            "webchat_secret": flag(self.webchat_secret),
            "translation_provider": self.translation_provider,
            "libretranslate_url": _redact_url(self.libretranslate_url) if self.libretranslate_url else None,
            "libretranslate_api_key": flag(self.libretranslate_api_key),
            "translation_timeout": self.translation_timeout,
            "telegram_bot_token": flag(self.telegram_bot_token),
            "twilio_account_sid": flag(self.twilio_account_sid),
            "twilio_auth_token": flag(self.twilio_auth_token),
            "twilio_whatsapp_from": self.twilio_whatsapp_from,
            "twilio_sms_from": self.twilio_sms_from,
            "default_language": self.default_language,
            "ticket_auto_close_days": self.ticket_auto_close_days,
            "helpdesk_job_interval": self.helpdesk_job_interval,
            "support_hours": self.support_hours or "always",
            "support_timezone": self.support_timezone,
        }


def load_settings(
    environ: Optional[Mapping[str, str]] = None,
    env_file: Optional[Path] = DEFAULT_ENV_FILE,
    var_dir: Path = DEFAULT_VAR_DIR,
) -> Settings:
    """Build and validate settings.

    ``environ`` defaults to ``os.environ``; ``env_file=None`` skips ``.env``.
    ``var_dir`` holds the default SQLite file and the generated webchat secret.
    """
    env: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    def get(name: str) -> Optional[str]:
        value = env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    problems: list[str] = []
    values: dict[str, Any] = {}

    def check(key: str, name: str, default: Any, parse: Callable[[str, str], Any]) -> None:
        raw = get(name)
        if raw is None:
            values[key] = default
            return
        try:
            values[key] = parse(name, raw)
        except ValueError as exc:
            problems.append(str(exc))

    check("backend_host", "BACKEND_HOST", "127.0.0.1", lambda n, v: v)
    check("backend_port", "BACKEND_PORT", 8000, _parse_port)
    check("rasa_url", "RASA_URL", "http://127.0.0.1:5005", _parse_http_url)
    check("translation_provider", "TRANSLATION_PROVIDER", "none", _parse_provider)
    check("libretranslate_url", "LIBRETRANSLATE_URL", None, _parse_http_url)
    check("translation_timeout", "TRANSLATION_TIMEOUT", 5.0, _parse_timeout)
    check("default_language", "DEFAULT_LANGUAGE", "en", _parse_language)
    check("agent_api_keys", "AGENT_API_KEYS", {}, _parse_agent_keys)
    check("ticket_auto_close_days", "TICKET_AUTO_CLOSE_DAYS", 3, _parse_days)
    check("helpdesk_job_interval", "HELPDESK_JOB_INTERVAL_SECONDS", 60.0, _parse_timeout)
    check("support_hours", "SUPPORT_HOURS", "", lambda n, v: v)
    check("support_timezone", "SUPPORT_TIMEZONE", "Asia/Kolkata", lambda n, v: v)
    if "support_hours" in values and "support_timezone" in values:
        from backend.services import office_hours

        try:
            office_hours.parse(values["support_hours"], values["support_timezone"])
        except ValueError as exc:
            problems.append(str(exc))

    raw_db = get("DATABASE_URL")
    if raw_db is None:
        var_dir.mkdir(parents=True, exist_ok=True)
        values["database_url"] = f"sqlite:///{(var_dir / 'sahayak.db').resolve()}"
    else:
        try:
            values["database_url"] = _parse_database_url(raw_db)
        except ValueError as exc:
            problems.append(str(exc))

    if values.get("translation_provider") == "libre" and get("LIBRETRANSLATE_URL") is None:
        problems.append("LIBRETRANSLATE_URL is required when TRANSLATION_PROVIDER is 'libre'")

    if problems:
        raise ConfigError(problems)

    webchat_secret = get("WEBCHAT_SECRET") or _stored_webchat_secret(var_dir)
    return Settings(
        **values,
        rasa_token=get("RASA_TOKEN"),
        admin_api_key=get("ADMIN_API_KEY"),
        webchat_secret=webchat_secret,
        libretranslate_api_key=get("LIBRETRANSLATE_API_KEY"),
        telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
        twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
        twilio_sms_from=get("TWILIO_SMS_FROM"),
    )


_lock = threading.Lock()
_cached: Optional[Settings] = None


def get_settings() -> Settings:
    """Process-wide settings, loaded on first use."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = load_settings(env_file=DEFAULT_ENV_FILE, var_dir=DEFAULT_VAR_DIR)
        return _cached


def reload_settings() -> Settings:
    """Forget the cached settings and load them again (for tests)."""
    global _cached
    with _lock:
        _cached = None
    return get_settings()


def _parse_port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be a port number 1-65535, got {raw!r}")
    return port


def _parse_http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http:// or https:// URL, got {_redact_url(raw)!r}")
    return raw.rstrip("/")


def _parse_provider(name: str, raw: str) -> str:
    value = raw.lower()
    if value not in TRANSLATION_PROVIDERS:
        raise ValueError(f"{name} must be one of {', '.join(TRANSLATION_PROVIDERS)}, got {raw!r}")
    return value


def _parse_timeout(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 300:  # also rejects NaN
        raise ValueError(f"{name} must be a number of seconds between 0 and 300, got {raw!r}")
    return value


def _parse_agent_keys(name: str, raw: str) -> dict[str, str]:
    """``ravi=key1,meena=key2``: each agent's name and their API key (at least 16 characters)."""
    keys: dict[str, str] = {}
    for position, item in enumerate(raw.split(","), start=1):
        agent, separator, key = item.strip().partition("=")
        agent, key = agent.strip(), key.strip()
        if not separator or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", agent):
            raise ValueError(f"{name} entry {position} must be name=key with a name of letters, digits, '.', '_' or '-'")
        if len(key) < 16:
            # Never echo the key itself.
            raise ValueError(f"{name}: the key of agent {agent!r} must be at least 16 characters")
        keys[agent] = key
    return keys


def _parse_days(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 365:
        raise ValueError(f"{name} must be a whole number of days from 1 to 365, got {raw!r}")
    return value


def _parse_language(name: str, raw: str) -> str:
    if not LANGUAGE_TAG.match(raw):
        raise ValueError(f"{name} must be a language tag such as 'en' or 'ta-Latn', got {raw!r}")
    return raw


def _parse_database_url(raw: str) -> str:
    name = "DATABASE_URL"
    try:
        url = make_url(raw)
    except ArgumentError:
        # Never echo the value: it may carry a password.
        raise ValueError(f"{name} is not a valid database URL (expected e.g. sqlite:///path or postgresql://...)") from None
    backend = url.get_backend_name()
    if backend == "postgres":
        raise ValueError(f"{name} uses the 'postgres://' scheme; write 'postgresql://' instead")
    if backend not in SUPPORTED_DATABASES:
        raise ValueError(f"{name} must be a sqlite or postgresql URL, got a {backend!r} URL")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError(f"{name} must point to a SQLite file (several processes share it), not an in-memory database")
        path = Path(url.database)
        if not path.is_absolute():
            # Processes started from different directories must share one file.
            path = REPO_ROOT / path
        if not path.parent.is_dir():
            raise ValueError(f"{name} points to a SQLite file in a missing directory: {path.parent}")
        url = url.set(database=str(path))
    return url.render_as_string(hide_password=False)


def _redact_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.password:
        return raw.replace(parts.password, "***")
    return raw


def _stored_webchat_secret(var_dir: Path) -> str:
    """Read the generated web chat secret, creating it (mode 0600) on first use."""
    path = var_dir / WEBCHAT_SECRET_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it between our read and our write: use theirs.
        return path.read_text(encoding="ascii").strip() or _stored_webchat_secret_retry(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


def _stored_webchat_secret_retry(path: Path) -> str:
    # The other process may not have written yet; a short read loop is enough.
    for _ in range(50):
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value
        threading.Event().wait(0.01)
    raise ConfigError([f"{path} exists but is empty; delete it so a new web chat secret can be generated"])
