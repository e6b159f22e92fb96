"""What the helpdesk actions show customers of tickets: names in their language, dates in the shop's time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rasa_sdk import Tracker

from backend.models import Ticket
from backend.services import ticket_text
from bot.render import render_response

# The shop is in Chennai: due times are shown in India Standard Time.
SHOP_TIME = timezone(timedelta(hours=5, minutes=30), "IST")
DESCRIPTION_PREVIEW = 60


def local_time(moment: datetime) -> str:
    return moment.astimezone(SHOP_TIME).strftime("%d/%m %H:%M IST")


def local_date(moment: datetime) -> str:
    return moment.astimezone(SHOP_TIME).strftime("%d/%m/%Y")


def category_name(category: str, language: str) -> str:
    return render_response(f"utter_category_name_{category}", language)["text"]


def status_name(status: str, language: str) -> str:
    return render_response(f"utter_status_name_{status}", language)["text"]


def ticket_line(ticket: Ticket, language: str) -> str:
    description = ticket.description if len(ticket.description) <= DESCRIPTION_PREVIEW else (
        ticket.description[: DESCRIPTION_PREVIEW - 1] + "…"
    )
    return f"• {ticket.reference} · {status_name(ticket.status, language)} · {description}"


def button_title(ticket: Ticket, language: str) -> str:
    return f"{ticket.reference} · {category_name(ticket.category, language)}"


def asked_ticket_number(tracker: Tracker) -> int | None:
    """The ticket number of the latest message: a button's entity, else one typed in the text."""
    for value in tracker.get_latest_entity_values("ticket_number"):
        number = ticket_text.parse_reference(str(value))
        if number:
            return number
    message = tracker.latest_message or {}
    return ticket_text.parse_reference(message.get("original_text") or message.get("text"))


def user_text(tracker: Tracker) -> str:
    """What the user typed (before any machine translation); empty for button payloads."""
    message = tracker.latest_message or {}
    text = (message.get("original_text") or message.get("text") or "").strip()
    return "" if text.startswith("/") else text
