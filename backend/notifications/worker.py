"""The outbox delivery worker: claims due messages, renders them, hands them to the channel senders.

How a message moves::

    pending --claim--> sending --sender accepted--> sent
       ^                  |--DeliveryError, attempts left--> pending (next_attempt_at = now + backoff)
       |                  |--permanent, no sender, attempts used up--> dead
       '-- lease expired (the worker died) or POST /api/outbox/{id}/retry (dead only)

Claiming. On PostgreSQL a batch of eligible rows is selected ``FOR UPDATE SKIP LOCKED`` and set to
``sending`` with a random claim token and ``lease_until = now + lease``, then committed, so concurrent workers
never claim the same row. On SQLite, which has one writer at a time, the same happens in a single conditional
``UPDATE ... WHERE id IN (SELECT eligible ...)``. A row is eligible when it is pending and due, or when it is
``sending`` past its lease (its worker crashed), and no older message of the same recipient is pending or
sending: messages reach a recipient in the order they were queued, by id (dead ones do not block later ones,
so a dead message retried later arrives after them).

Sending. Right before each send the worker renews its lease on that row, conditional on its claim token; if
another worker has taken the row over meanwhile, it does not send. The send is bounded by ``send_timeout``,
which must be shorter than the lease, so no other worker can reclaim a row while its send may still be in
progress. Right after the sender returns, ``sent`` is committed on its own, again conditional on the token.

The one unavoidable window: the provider accepted the message and the worker died (or lost the database)
before the ``sent`` commit. Nothing records that the provider has it, so once the lease expires the message
is delivered again: at-least-once for that one message, never more than the one message in flight per worker
loop. The same holds when a send times out after the provider accepted it. Senders whose provider
de-duplicates can pass ``OutboundMessage.idempotency_key`` along to close it. Everything else is exactly
once: a worker killed before sending, or between claiming and sending, loses nothing, because the claimed
rows become eligible again when their lease expires.

Attempts are counted when a row is claimed, so a message whose delivery keeps killing its worker is
dead-lettered after ``max_attempts`` too. Worker clocks must roughly agree (leases are absolute times).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random as _random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from backend.config import ConfigError
from backend.db import DatabaseUnavailable, session_scope
from backend.models import OUTBOX_UNFINISHED, OutboxMessage, User, utcnow
from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient, Sender
from backend.services import users

log = logging.getLogger(__name__)

ERROR_MAX = 2000
INTERRUPTED = "interrupted: the worker delivering it stopped before finishing (its lease expired)"
# Waits between attempts to record a delivery the provider accepted; the lease covers them.
RECORD_SENT_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)

Clock = Callable[[], datetime]
Renderer = Callable[[str, str, dict[str, Any]], dict[str, Any]]


# The environment variables read by OutboxSettings.from_environ, by field.
ENVIRONMENT = {
    "max_attempts": "OUTBOX_MAX_ATTEMPTS",
    "base_delay": "OUTBOX_BASE_DELAY_SECONDS",
    "max_delay": "OUTBOX_MAX_DELAY_SECONDS",
    "lease": "OUTBOX_LEASE_SECONDS",
    "send_timeout": "OUTBOX_SEND_TIMEOUT_SECONDS",
    "batch_size": "OUTBOX_BATCH_SIZE",
    "poll_interval": "OUTBOX_POLL_SECONDS",
}


@dataclass(frozen=True)
class OutboxSettings:
    """Delivery settings. Delays and durations are in seconds."""

    max_attempts: int = 8  # then the message is dead
    base_delay: float = 10.0  # backoff after the first failed attempt; doubles with every attempt
    max_delay: float = 3600.0  # cap of the backoff
    jitter: float = 0.5  # each backoff is shortened by a random fraction of up to this much
    lease: float = 120.0  # how long a claimed message is reserved for its worker
    send_timeout: float = 30.0  # longest a sender may take; must be shorter than the lease
    batch_size: int = 20  # messages claimed at once (at most one per recipient)
    poll_interval: float = 0.1  # wait when nothing is due: an agent's reply must reach a chat at once
    default_language: str = "en"  # for recipients without a preferred language

    def __post_init__(self) -> None:
        def label(name: str) -> str:
            return f"{ENVIRONMENT[name]} ({name})" if name in ENVIRONMENT else name

        problems = []
        for name in ("max_attempts", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{label(name)} must be at least 1")
        for name in ("base_delay", "max_delay", "lease", "send_timeout", "poll_interval"):
            if not getattr(self, name) > 0:  # also rejects NaN
                problems.append(f"{label(name)} must be a positive number of seconds")
        if not 0 <= self.jitter < 1:
            problems.append("jitter must be at least 0 and below 1")
        if self.send_timeout >= self.lease:
            problems.append(
                f"{label('send_timeout')} must be shorter than {label('lease')} ({self.send_timeout:g}s >= "
                f"{self.lease:g}s), or a slow send could be taken over and delivered twice"
            )
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "OutboxSettings":
        """Settings from the OUTBOX_* variables in ``ENVIRONMENT``; every problem is reported at once."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems = []
        for name, variable in ENVIRONMENT.items():
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            parse = type(getattr(cls, name))  # int or float, from the default
            try:
                values[name] = parse(raw)
            except ValueError:
                problems.append(f"{variable} must be {'a whole' if parse is int else 'a'} number, got {raw!r}")
        if problems:
            raise ConfigError(problems)
        return cls(**{**values, **overrides})

    def backoff(self, attempts: int, random: float) -> float:
        """Seconds to wait after failed attempt number ``attempts`` (1, 2, ...): ``base * 2^(attempts-1)``,
        capped, then shortened by up to ``jitter`` of itself (``random`` is in [0, 1))."""
        delay = min(self.max_delay, self.base_delay * 2 ** min(max(attempts - 1, 0), 62))
        return delay * (1 - self.jitter * random)


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this worker has reserved (status ``sending``) under ``token`` until its lease expires."""

    id: int
    user_id: int
    kind: str
    response: Optional[str]
    params: dict[str, Any]
    text: Optional[str]
    idempotency_key: str
    attempts: int  # including the one now being made
    token: str


def render_catalogue_response(response: str, language: str, params: dict[str, Any]) -> dict[str, Any]:
    """The default renderer: the response catalogues of the bot (imported on first use)."""
    from bot.render import render_response

    return render_response(response, language, params)


class OutboxWorker:
    """Delivers outbox messages through ``senders`` (channel name -> :class:`Sender`).

    ``clock``, ``render`` and ``random`` are injectable so tests control time, rendering and jitter.
    Several workers (threads, processes, machines) may run against one database at once.
    """

    def __init__(
        self,
        senders: Mapping[str, Sender],
        *,
        database_url: Optional[str] = None,
        settings: Optional[OutboxSettings] = None,
        clock: Clock = utcnow,
        render: Renderer = render_catalogue_response,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.senders = dict(senders)
        self.database_url = database_url
        self.settings = settings or OutboxSettings()
        self.clock = clock
        self.render = render
        self.random = random

    # --- the loops ---------------------------------------------------------------------------------------

    async def run(self, *, stop: Optional[asyncio.Event] = None, concurrency: int = 1) -> None:
        """Deliver until ``stop`` is set, with ``concurrency`` claim-and-deliver loops. A stop lets each loop
        finish the message it is sending and hands the rest of its batch back at once."""
        stop = stop or asyncio.Event()
        await asyncio.gather(*(self._serve(stop) for _ in range(max(1, concurrency))))

    async def drain(self, *, concurrency: int = 1) -> int:
        """Deliver everything that is due, then return the number of delivery attempts made."""

        async def loop() -> int:
            total = 0
            while True:
                count = await self.run_once()
                if count == 0:
                    return total
                total += count

        return sum(await asyncio.gather(*(loop() for _ in range(max(1, concurrency)))))

    async def run_once(self, stop: Optional[asyncio.Event] = None) -> int:
        """Claim one batch and deliver it, one message after the other. Returns the batch size."""
        claims = await asyncio.to_thread(self.claim)
        for index, claim in enumerate(claims):
            if stop is not None and stop.is_set():
                await asyncio.to_thread(self.release, claims[index:])
                break
            try:
                await self.deliver(claim)
            except Exception as exc:  # noqa: BLE001 - one message must not stop the others
                self._log_step_failure(claim, exc)
        return len(claims)

    async def _serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                count = await self.run_once(stop)
                wait = self.settings.poll_interval if count == 0 else 0
            except DatabaseUnavailable as exc:
                log.warning("Outbox: %s", exc)
                wait = max(self.settings.poll_interval, 1.0)
            except Exception:  # noqa: BLE001 - keep serving; the next round may succeed
                log.exception("Outbox: claiming messages failed")
                wait = max(self.settings.poll_interval, 1.0)
            if wait:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass

    # --- one message -------------------------------------------------------------------------------------

    async def deliver(self, claim: ClaimedMessage) -> str:
        """Try to deliver one claimed message. Returns its outcome: "sent", "pending" (retry scheduled),
        "dead", "lost" (another worker took it over) or "unrecorded" (sent, but ``sent`` not committed)."""
        if claim.attempts > self.settings.max_attempts:
            # Only interrupted attempts get here: a failed one at max_attempts is dead already.
            return await asyncio.to_thread(
                self._record_failure, claim, f"{INTERRUPTED}; gave up after {claim.attempts - 1} attempts", None, True
            )
        recipient = await asyncio.to_thread(self._find_recipient, claim)
        if isinstance(recipient, str):
            return await asyncio.to_thread(self._record_failure, claim, recipient, None, True)
        sender = self.senders.get(recipient.channel)
        if sender is None:
            reason = f"no sender for channel {recipient.channel}"
            return await asyncio.to_thread(self._record_failure, claim, reason, None, True, recipient)
        try:
            message = await asyncio.to_thread(self._render, claim, recipient)
        except Exception as exc:  # noqa: BLE001 - e.g. the translation service failed: retried
            log.exception("Outbox message %s: rendering failed", claim.id)
            reason = f"rendering failed: {type(exc).__name__}: {exc}"
            return await asyncio.to_thread(self._record_failure, claim, reason, None, False, recipient)
        if isinstance(message, str):
            return await asyncio.to_thread(self._record_failure, claim, message, None, True, recipient)
        if not await asyncio.to_thread(self._renew_lease, claim):
            log.warning("Outbox message %s: another worker took it over; not sending it", claim.id)
            return "lost"
        try:
            await asyncio.wait_for(sender.send(recipient, message), timeout=self.settings.send_timeout)
        except DeliveryError as exc:
            return await asyncio.to_thread(
                self._record_failure, claim, exc.reason, exc.retry_after, exc.permanent, recipient
            )
        except asyncio.TimeoutError:
            reason = f"the {recipient.channel} sender did not finish within {self.settings.send_timeout:g}s"
            return await asyncio.to_thread(self._record_failure, claim, reason, None, False, recipient)
        except Exception as exc:  # noqa: BLE001 - a sender bug or a network error it did not translate
            log.exception("Outbox message %s: the %s sender failed", claim.id, recipient.channel)
            reason = f"{type(exc).__name__}: {exc}"
            return await asyncio.to_thread(self._record_failure, claim, reason, None, False, recipient)
        return await self._record_sent(claim, recipient)

    async def _record_sent(self, claim: ClaimedMessage, recipient: Recipient) -> str:
        # The provider has the message: commit that now. Until this commit succeeds, a crash means the
        # message is sent again after its lease (the window described in the module docstring).
        for delay in (0.0, *RECORD_SENT_RETRY_DELAYS):
            if delay:
                await asyncio.sleep(delay)
            try:
                recorded = await asyncio.to_thread(self._mark_sent, claim, recipient)
            except Exception as exc:  # noqa: BLE001 - retried below while the lease still holds
                log.warning("Outbox message %s was sent but recording it failed: %s", claim.id, exc)
                continue
            if not recorded:
                log.error(
                    "Outbox message %s was sent after another worker took it over; it may arrive twice",
                    claim.id,
                )
                return "lost"
            log.info("Outbox message %s (%s) sent on %s", claim.id, claim.kind, recipient.channel)
            return "sent"
        log.error("Outbox message %s was sent but could not be recorded; it will be sent again", claim.id)
        return "unrecorded"

    # --- database steps (blocking; the async code runs them in threads) ----------------------------------

    def claim(self) -> list[ClaimedMessage]:
        """Reserve up to ``batch_size`` eligible messages (at most one per recipient) and commit."""
        now = self.clock()
        token = secrets.token_hex(16)
        table = OutboxMessage.__table__
        with session_scope(self.database_url) as session:
            candidates, candidate = _eligible(now, self.settings.batch_size)
            if session.get_bind().dialect.name == "postgresql":
                ids = session.execute(candidates.with_for_update(skip_locked=True, of=candidate)).scalars().all()
                if not ids:
                    return []
                target = table.c.id.in_(ids)
            else:
                if session.execute(candidates.limit(1)).first() is None:
                    return []  # nothing is due: do not take SQLite's write lock for nothing
                # One statement, so SQLite's write lock makes choosing and claiming a single atomic step.
                target = table.c.id.in_(candidates)
            session.execute(
                update(table)
                .where(target)
                .values(
                    status="sending",
                    claim_token=token,
                    lease_until=now + timedelta(seconds=self.settings.lease),
                    attempts=table.c.attempts + 1,
                    last_error=case((table.c.status == "sending", INTERRUPTED), else_=table.c.last_error),
                )
            )
            rows = session.execute(
                select(OutboxMessage).where(OutboxMessage.claim_token == token).order_by(OutboxMessage.id)
            ).scalars()
            return [
                ClaimedMessage(
                    id=row.id,
                    user_id=row.user_id,
                    kind=row.kind,
                    response=row.response,
                    params=dict(row.params or {}),
                    text=row.text,
                    idempotency_key=row.idempotency_key,
                    attempts=row.attempts,
                    token=token,
                )
                for row in rows
            ]

    def release(self, claims: Iterable[ClaimedMessage]) -> None:
        """Hand claimed but unattempted messages back, due at once (used when stopping)."""
        table = OutboxMessage.__table__
        with session_scope(self.database_url) as session:
            for claim in claims:
                session.execute(
                    update(table)
                    .where(table.c.id == claim.id, table.c.claim_token == claim.token)
                    .values(status="pending", claim_token=None, lease_until=None, attempts=table.c.attempts - 1)
                )

    def _find_recipient(self, claim: ClaimedMessage) -> Union[Recipient, str]:
        """Where and in which language to reach the user (the identity they used last), or why we cannot."""
        with session_scope(self.database_url) as session:
            user = session.get(User, claim.user_id)
            identity = users.latest_identity(session, claim.user_id)
            if user is None or identity is None:
                return f"user {claim.user_id} has no channel identity to reach them on"
            return Recipient(
                user_id=user.id,
                channel=identity.channel,
                address=identity.channel_user_id,
                language=user.preferred_language or self.settings.default_language,
                last_inbound_at=identity.last_seen_at,
            )

    def _render(self, claim: ClaimedMessage, recipient: Recipient) -> Union[OutboundMessage, str]:
        """The message in the recipient's language, or why it can never be rendered."""
        if claim.response is None:
            return OutboundMessage(idempotency_key=claim.idempotency_key, text=claim.text or "")
        try:
            rendered = self.render(claim.response, recipient.language, dict(claim.params))
        except KeyError:  # bot.render.UnknownResponse
            return f"unknown response {claim.response!r}"
        return OutboundMessage(
            idempotency_key=claim.idempotency_key,
            text=rendered.get("text") or "",
            buttons=tuple(rendered.get("buttons") or ()),
            image=rendered.get("image"),
            document=rendered.get("document"),
            response=claim.response,
            params=dict(claim.params),
        )

    def _renew_lease(self, claim: ClaimedMessage) -> bool:
        """Extend the lease to cover the send; False when the message is no longer ours."""
        table = OutboxMessage.__table__
        lease_until = self.clock() + timedelta(seconds=self.settings.lease)
        with session_scope(self.database_url) as session:
            result = session.execute(
                update(table)
                .where(table.c.id == claim.id, table.c.claim_token == claim.token, table.c.status == "sending")
                .values(lease_until=lease_until)
            )
            return result.rowcount == 1

    def _mark_sent(self, claim: ClaimedMessage, recipient: Recipient) -> bool:
        table = OutboxMessage.__table__
        with session_scope(self.database_url) as session:
            result = session.execute(
                update(table)
                .where(table.c.id == claim.id, table.c.claim_token == claim.token)
                .values(
                    status="sent",
                    sent_at=self.clock(),
                    claim_token=None,
                    lease_until=None,
                    channel=recipient.channel,
                    address=recipient.address,
                )
            )
            return result.rowcount == 1

    def _record_failure(
        self,
        claim: ClaimedMessage,
        reason: str,
        retry_after: Optional[float],
        permanent: bool,
        recipient: Optional[Recipient] = None,
    ) -> str:
        """Schedule the next attempt, or dead-letter the message. Returns the new status (or "lost")."""
        now = self.clock()
        if permanent or claim.attempts >= self.settings.max_attempts:
            status, next_attempt_at = "dead", now
            if not permanent:
                reason = f"{reason} (gave up after {claim.attempts} attempts)"
        else:
            delay = retry_after if retry_after is not None else self.settings.backoff(claim.attempts, self.random())
            status, next_attempt_at = "pending", now + timedelta(seconds=max(0.0, delay))
        values: dict[str, Any] = {
            "status": status,
            "next_attempt_at": next_attempt_at,
            "last_error": reason[:ERROR_MAX],
            "claim_token": None,
            "lease_until": None,
        }
        if recipient is not None:
            values.update(channel=recipient.channel, address=recipient.address)
        table = OutboxMessage.__table__
        with session_scope(self.database_url) as session:
            result = session.execute(
                update(table).where(table.c.id == claim.id, table.c.claim_token == claim.token).values(**values)
            )
        if result.rowcount != 1:
            log.warning("Outbox message %s: another worker took it over before its failure was recorded", claim.id)
            return "lost"
        if status == "dead":
            log.error("Outbox message %s (%s) is dead: %s", claim.id, claim.kind, reason)
        else:
            log.warning(
                "Outbox message %s (%s) attempt %d failed, next in %.1fs: %s",
                claim.id, claim.kind, claim.attempts, (next_attempt_at - now).total_seconds(), reason,
            )
        return status

    def _log_step_failure(self, claim: ClaimedMessage, exc: Exception) -> None:
        if isinstance(exc, DatabaseUnavailable):
            log.warning("Outbox message %s: %s; it is retried when its lease expires", claim.id, exc)
        else:
            log.exception("Outbox message %s: delivery step failed; it is retried when its lease expires", claim.id)


def _eligible(now: datetime, limit: int) -> tuple[Select, Any]:
    """SELECT the ids of messages that may be claimed now, oldest first; and the alias it selects from."""
    candidate = aliased(OutboxMessage, name="candidate")
    older = aliased(OutboxMessage, name="older")
    blocked = (
        select(older.id)
        .where(
            older.user_id == candidate.user_id,
            older.id < candidate.id,
            older.status.in_(OUTBOX_UNFINISHED),
        )
        .exists()
    )
    due = or_(
        and_(candidate.status == "pending", candidate.next_attempt_at <= now),
        and_(candidate.status == "sending", candidate.lease_until <= now),
    )
    return select(candidate.id).where(due, ~blocked).order_by(candidate.id).limit(limit), candidate
