"""``python -m backend.workers.outbox [--once] [--concurrency N]``: deliver the notification outbox.

Without ``--once`` it runs until SIGTERM or SIGINT; a stop lets each loop finish the message it is sending and
hands the rest of its batch back. With ``--once`` it delivers everything that is due and exits. Several
workers may run at once, on one machine or many. Settings: DATABASE_URL and the OUTBOX_* variables of
:data:`backend.notifications.worker.ENVIRONMENT`; channel senders come from ``connectors.senders``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Mapping, Optional, Sequence

from backend.config import ConfigError, get_settings
from backend.db import DatabaseUnavailable
from backend.notifications.delivery import Sender
from backend.notifications.worker import OutboxSettings, OutboxWorker

log = logging.getLogger("backend.workers.outbox")

SENDERS_MODULE = "connectors.senders"


def load_senders(environ: Optional[Mapping[str, str]] = None) -> dict[str, Sender]:
    """The configured channel senders, from ``connectors.senders.build_senders``; none if it does not exist."""
    try:
        from connectors.senders import build_senders
    except ImportError as exc:  # the module, or its build_senders, is missing
        if exc.name != SENDERS_MODULE:
            raise
        log.warning(
            "No channel senders: %s.build_senders does not exist yet. Every notification will be "
            "dead-lettered as 'no sender for channel ...' (retry them later with POST /api/outbox/{id}/retry).",
            SENDERS_MODULE,
        )
        return {}
    senders = dict(build_senders(os.environ if environ is None else environ))
    log.info("Channel senders configured: %s", ", ".join(sorted(senders)) or "none")
    return senders


def main(argv: Optional[Sequence[str]] = None, *, senders: Optional[Mapping[str, Sender]] = None) -> int:
    """Run the worker; ``senders`` replaces ``connectors.senders`` (for tests)."""
    parser = argparse.ArgumentParser(
        prog="python -m backend.workers.outbox", description="Deliver the notification outbox."
    )
    parser.add_argument("--once", action="store_true", help="deliver everything that is due, then exit")
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="delivery loops in this process (default 1)"
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
        outbox_settings = OutboxSettings.from_environ(default_language=settings.default_language)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    worker = OutboxWorker(
        load_senders() if senders is None else senders,
        database_url=settings.database_url,
        settings=outbox_settings,
    )
    if args.once:
        try:
            attempts = asyncio.run(worker.drain(concurrency=args.concurrency))
        except DatabaseUnavailable as exc:
            log.error("%s", exc)
            return 1
        log.info("Outbox: %d delivery attempt(s); nothing else is due.", attempts)
        return 0
    asyncio.run(_serve(worker, args.concurrency))
    return 0


async def _serve(worker: OutboxWorker, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "Outbox worker started: %d loop(s), channels %s, %s",
        concurrency, ", ".join(sorted(worker.senders)) or "none", worker.settings,
    )
    await worker.run(stop=stop, concurrency=concurrency)
    log.info("Outbox worker stopped.")


if __name__ == "__main__":
    sys.exit(main())
