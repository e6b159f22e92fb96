"""``python -m tests.fakes.outbox_worker URL [--once] [--concurrency N]``: the real outbox worker command,
with senders that post to the fake notification API at URL instead of ``connectors.senders``."""
from __future__ import annotations

import sys

from backend.workers.outbox import main
from tests.fakes.notifications import http_senders

if __name__ == "__main__":
    url, *argv = sys.argv[1:]
    sys.exit(main(argv, senders=http_senders(url)))
