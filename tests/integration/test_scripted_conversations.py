"""Scripted conversations in every native language, through the real stack over the REST channel.

The scripts are tests/conversations/<capability>/<lang>.yml (helpdesk, retail). A reply matches a response
when its text is that response's text in the conversation's language, with every {placeholder} standing for
any text. In a user message, ``{invite:LOCATION}`` becomes a fresh one-time code inviting this conversation's
user to run that location (what an admin's invitation gives a retailer).
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from backend.db import session_scope
from backend.models import OutboxMessage, Ticket
from backend.services import users
from bot.catalogue import load_locale
from bot.languages import NATIVE_LANGUAGES

pytestmark = pytest.mark.integration

CONVERSATIONS = Path(__file__).resolve().parent.parent / "conversations"
CAPABILITIES = ("helpdesk", "retail")
_PLACEHOLDER = re.compile(r"\\\{[a-z_]+\\\}")
_INVITE = re.compile(r"\{invite:([A-Z-]+)\}")


def pattern(language: str, response: str) -> re.Pattern:
    text = load_locale(language)[response][0]["text"]
    return re.compile(_PLACEHOLDER.sub(lambda _: "(.+?)", re.escape(text)) + r"\Z", re.DOTALL)


def matches(language: str, expected: str, reply: dict) -> bool:
    return any(pattern(language, option).match(reply.get("text") or "") for option in expected.split("|"))


# Language understanding is statistical, and each change of training data moves some of its mistakes: per
# capability and language, at most this share of the scripted conversations may go astray (each one stops at
# its first unexpected reply, which the failure message shows). Everything that does not depend on NLU (the
# database, the outbox, authorisation) is asserted strictly by the tests below.
MAX_ASTRAY = 0.2


def scripts():
    for capability in CAPABILITIES:
        for language in NATIVE_LANGUAGES:
            yield pytest.param(capability, language, id=f"{capability} {language}")


def with_invites(stack, sender: str, text: str) -> str:
    def code(match: re.Match) -> str:
        from backend.models import Location
        from backend.services import retailers

        with session_scope(stack.database_url) as session:
            location = session.execute(select(Location).where(Location.code == match.group(1))).scalar_one()
            return retailers.invite(session, location=location, display_name="Test retailer", channel="rest",
                                    address=sender, actor="admin:test").code

    return _INVITE.sub(code, text)


def play(stack, language: str, conversation: dict) -> str | None:
    """Play one conversation; None when every reply was the expected one, else the transcript so far."""
    sender = f"sc-{uuid.uuid4().hex[:12]}"
    transcript = [f"--- {conversation['name']}"]
    for turn in conversation["turns"]:
        replies = stack.say(sender, with_invites(stack, sender, turn["user"]))
        transcript.append(f"user: {turn['user']}")
        transcript.extend(f"bot:  {r.get('text')!r}" for r in replies)
        expected = turn["bot"]
        if not (len(replies) == len(expected) and all(matches(language, e, r) for e, r in zip(expected, replies))):
            transcript.append(f"expected: {expected}")
            return "\n".join(transcript)
    return None


@pytest.mark.parametrize("capability, language", list(scripts()))
def test_scripted_conversations(stack, capability: str, language: str) -> None:
    script = yaml.safe_load((CONVERSATIONS / capability / f"{language}.yml").read_text(encoding="utf-8"))
    assert script["language"] == language
    conversations = script["conversations"]
    astray = [t for t in (play(stack, language, c) for c in conversations) if t is not None]
    allowed = int(MAX_ASTRAY * len(conversations))
    assert len(astray) <= allowed, f"{len(astray)} of {len(conversations)} went astray:\n" + "\n\n".join(astray)


def test_a_tamil_ticket_lands_in_the_database_and_its_notification_in_the_outbox(stack) -> None:
    run_tamil_ticket(stack)


@pytest.mark.postgres
def test_the_same_tamil_ticket_on_postgresql(pg_stack) -> None:
    run_tamil_ticket(pg_stack)


def run_tamil_ticket(stack) -> None:
    sender = f"ta-{uuid.uuid4().hex[:12]}"
    say = lambda text: [r["text"] for r in stack.say(sender, text)]  # noqa: E731
    assert say("எனக்கு ஒரு complaint கொடுக்கணும்") == [load_locale("ta")["utter_ask_ticket_category"][0]["text"]]
    assert pattern("ta", "utter_ask_ticket_description").match(say("டெலிவரி")[0])
    assert pattern("ta", "utter_ask_ticket_details").match(say("பார்சல் இன்னும் வரல, ஒரு வாரம் ஆச்சு")[0])
    assert pattern("ta", "utter_ask_ticket_confirmed").match(say("SO-482913")[0])
    (created,) = say("ஆமா")
    match = pattern("ta", "utter_ticket_created").match(created)
    assert match, created
    reference = re.search(r"T-\d{6}", created).group(0)
    with session_scope(stack.database_url) as session:
        user = users.identify(session, "rest", sender)
        ticket = session.execute(select(Ticket).where(Ticket.user_id == user.id)).scalar_one()
        assert (ticket.reference, ticket.category, ticket.team, ticket.priority) == (reference, "delivery", "logistics", "normal")
        assert (ticket.description, ticket.details, ticket.language, ticket.channel) == (
            "பார்சல் இன்னும் வரல, ஒரு வாரம் ஆச்சு", "SO-482913", "ta", "rest"
        )
        (notice,) = session.execute(select(OutboxMessage).where(OutboxMessage.user_id == user.id)).scalars().all()
        assert (notice.response, notice.params) == ("utter_notify_ticket_created", {"reference": reference, "hours": 4})
        assert user.preferred_language == "ta"


def test_someone_elses_ticket_number_answers_exactly_like_a_missing_one(stack) -> None:
    owner, stranger = f"own-{uuid.uuid4().hex[:10]}", f"str-{uuid.uuid4().hex[:10]}"
    for text in ("I want to file a complaint", "payment", "I was charged twice for one order", "skip", "yes"):
        replies = stack.say(owner, text)
    reference = re.search(r"T-(\d{6})", replies[0]["text"]).group(0)
    missing = "T-" + "9" * 6
    for ask in ("status of ticket {}", "close ticket {}", "add a note to ticket {}", "reopen ticket {}"):
        theirs = [r["text"] for r in stack.say(stranger, ask.format(reference))]
        absent = [r["text"] for r in stack.say(stranger, ask.format(missing))]
        assert [t.replace(reference, "#") for t in theirs] == [t.replace(missing, "#") for t in absent], ask
        assert theirs == [load_locale("en")["utter_ticket_not_found"][0]["text"].format(reference=reference)]
    with session_scope(stack.database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.id == int(reference[2:]))).scalar_one()
        assert ticket.status == "open" and not ticket.comments


def test_several_open_tickets_offer_buttons_to_pick_one(stack) -> None:
    sender = f"many-{uuid.uuid4().hex[:10]}"
    for category, description in (("payment", "my refund has not arrived yet"), ("delivery", "parcel is very late")):
        for text in ("I want to file a complaint", category, description, "skip", "yes"):
            stack.say(sender, text)
    (choice,) = stack.say(sender, "what's the status of my ticket?")
    assert choice["text"] == load_locale("en")["utter_choose_ticket"][0]["text"]
    payloads = [b["payload"] for b in choice["buttons"]]
    assert len(payloads) == 2 and all(p.startswith('/ticket_status{"ticket_number": "T-') for p in payloads)
    (status,) = stack.say(sender, payloads[0])
    assert pattern("en", "utter_ticket_status_open").match(status["text"])
