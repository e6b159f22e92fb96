"""Manage console agents from the command line (what an admin runs on the server).

    python -m backend.agents create --username asha --name "Asha Rao" --team customer-care [--team billing]
                                    [--language en] [--admin] [--password-stdin]
    python -m backend.agents password --username asha [--password-stdin]
    python -m backend.agents list

Without ``--password-stdin`` the password is asked twice at the terminal, never on the command line (where
other users and the shell history could read it).
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Optional, Sequence

from backend.db import migrate, session_scope
from backend.services import agents
from backend.services.users import normalize_language


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.agents", description="Manage agent console accounts.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create an agent")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True, help="the name customers see")
    create.add_argument("--team", action="append", default=[], help="a team whose chats the agent takes (repeat)")
    create.add_argument("--language", default="en", help="the language the agent reads and writes")
    create.add_argument("--admin", action="store_true", help="sees every team")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password = commands.add_parser("password", help="set an agent's password (logs them out everywhere)")
    password.add_argument("--username", required=True)
    password.add_argument("--password-stdin", action="store_true")
    commands.add_parser("list", help="list the agents")
    args = parser.parse_args(argv)

    migrate()
    try:
        with session_scope() as session:
            if args.command == "create":
                agent = agents.create_agent(
                    session, username=args.username, display_name=args.name, password=_password(args.password_stdin),
                    teams=args.team, language=normalize_language(args.language), is_admin=args.admin,
                )
                print(f"Created agent {agent.username} (teams: {', '.join(agent.team_names) or 'all, as admin'}).")
            elif args.command == "password":
                agent = agents.find(session, args.username)
                if agent is None:
                    raise ValueError(f"no agent called {args.username!r}")
                agents.set_password(session, agent, _password(args.password_stdin))
                print(f"Password of {agent.username} set; their sessions are ended.")
            else:
                for agent in agents.list_agents(session):
                    teams = ", ".join(agent.team_names) or "-"
                    flags = " admin" if agent.is_admin else ""
                    print(f"{agent.username:20} {agent.display_name:24} {agent.language:8} {teams}{flags}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
