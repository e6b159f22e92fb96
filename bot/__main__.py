"""`python -m bot`: set up, train, run and talk to Sahayak."""
from __future__ import annotations

import argparse
import subprocess
import sys

from bot.stack import StackConfig, StackConfigError


def _settings():
    from backend.config import ConfigError, get_settings

    try:
        return get_settings()
    except ConfigError as error:
        sys.exit(f"Configuration problem: {error}\nSee .env.example for every setting.")


def _stack() -> StackConfig:
    try:
        return StackConfig.from_env()
    except StackConfigError as error:
        sys.exit(f"Configuration problem: {error}")


def prepare() -> None:
    """Database migrated and demo data loaded."""
    from backend.db import migrate, session_scope
    from backend.seed import load_demo_data

    _settings()
    migrate()
    with session_scope() as session:
        load_demo_data(session)


def train(force: bool) -> None:
    from bot.training import is_current, train as train_model

    if not force and is_current():
        print("The model is up to date with data and config: not training.")
        return
    print("Training the model (data or config changed)…")
    try:
        train_model(force=force)
    except subprocess.CalledProcessError as error:
        sys.exit(f"Training failed with exit code {error.returncode}.")


def run() -> int:
    from bot.supervisor import Supervisor
    from bot.training import MODEL

    stack = _stack()
    settings = _settings()
    print("Settings:", ", ".join(f"{k}={v}" for k, v in settings.describe().items()))
    prepare()
    train(force=False)
    return Supervisor(stack, MODEL).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="migrate, seed, train if needed and start the whole stack")
    train_parser = commands.add_parser("train", help="train the model if data or config changed")
    train_parser.add_argument("--force", action="store_true")
    commands.add_parser("prepare", help="migrate the database and load demo data")
    commands.add_parser("chat", help="talk to the running assistant from the terminal")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command == "train":
        train(args.force)
    elif args.command == "prepare":
        prepare()
    elif args.command == "chat":
        from bot.chat import repl

        stack = _stack()
        repl(stack.rasa_url, stack.rasa_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
