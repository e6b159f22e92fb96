"""``python -m backend.workers.helpdesk [--once]``: the helpdesk's timed jobs.

Every HELPDESK_JOB_INTERVAL_SECONDS (default 60) it marks tickets that missed an SLA target and escalates them
one priority up, and closes resolved tickets whose customer has been quiet for TICKET_AUTO_CLOSE_DAYS (default
3), telling the customer through the outbox. Both jobs claim each ticket with a conditional update, so several
workers may run at once; a database that is briefly unreachable is retried at the next tick.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Optional, Sequence

from backend.config import ConfigError, Settings, get_settings
from backend.db import DatabaseUnavailable, session_scope
from backend.services import tickets

log = logging.getLogger("backend.workers.helpdesk")


def run_once(settings: Settings) -> tuple[int, int]:
    """Run both jobs once; returns (tickets escalated, tickets closed)."""
    with session_scope(settings.database_url) as session:
        breached = tickets.breach_sla(session)
        for ticket in breached:
            log.warning("%s missed its SLA: escalated to %s for team %s", ticket.reference, ticket.priority, ticket.team)
    with session_scope(settings.database_url) as session:
        closed = tickets.auto_close(session, quiet_days=settings.ticket_auto_close_days)
        for ticket in closed:
            log.info("%s closed after %d quiet days", ticket.reference, settings.ticket_auto_close_days)
    return len(breached), len(closed)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.workers.helpdesk", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="run the jobs once, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.once:
        try:
            escalated, closed = run_once(settings)
        except DatabaseUnavailable as exc:
            log.error("%s", exc)
            return 1
        log.info("Helpdesk jobs: %d escalated, %d closed.", escalated, closed)
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info(
        "Helpdesk jobs every %.0f s (auto-close after %d quiet days).",
        settings.helpdesk_job_interval, settings.ticket_auto_close_days,
    )
    while not stop.is_set():
        try:
            run_once(settings)
        except DatabaseUnavailable as exc:
            log.error("%s; trying again in %.0f s", exc, settings.helpdesk_job_interval)
        stop.wait(settings.helpdesk_job_interval)
    log.info("Helpdesk jobs stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
