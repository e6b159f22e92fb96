"""Existing tickets: status, list, comment, close, reopen, rating. Each action finds the one ticket meant
(its number, the user's only candidate, or buttons to pick) and makes one service call."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.conversation import Conversation, conversation, user_of
from actions.helpdesk_text import (
    asked_ticket_number,
    button_title,
    category_name,
    local_date,
    local_time,
    ticket_line,
)
from backend.config import get_settings
from backend.db import session_scope
from backend.models import TICKET_ACTIVE, Ticket, User, format_ticket_reference
from backend.services import ticket_text, tickets

LIST_LIMIT = 10
CHOICE_LIMIT = 8


def pick_ticket(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    session: Session,
    user: User,
    language: str,
    *,
    intent: str,
    candidates: Callable[[], Sequence[Ticket]],
    none_response: str,
) -> Optional[Ticket]:
    """The ticket the user means, or None after telling them why not (or offering buttons to pick one).

    A number that is not one of the user's tickets gets the same answer whether it exists or not.
    """
    number = asked_ticket_number(tracker)
    if number:
        ticket = tickets.find_for_user(session, user.id, number)
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", reference=format_ticket_reference(number))
        return ticket
    found = list(candidates())
    if not found:
        has_any = bool(tickets.tickets_of(session, user.id, limit=1))
        dispatcher.utter_message(response=none_response if has_any else "utter_no_tickets")
        return None
    if len(found) == 1:
        return found[0]
    buttons = [
        {"title": button_title(t, language), "payload": f'/{intent}{{"ticket_number": "{t.reference}"}}'}
        for t in found[:CHOICE_LIMIT]
    ]
    dispatcher.utter_message(response="utter_choose_ticket", buttons=buttons)
    return None


def say_status(dispatcher: CollectingDispatcher, ticket: Ticket, language: str) -> None:
    params: Dict[str, Any] = {"reference": ticket.reference, "category_name": category_name(ticket.category, language)}
    if ticket.status == "open":
        params["due"] = local_time(ticket.first_response_due)
    if ticket.status == "resolved":
        quiet = timedelta(days=get_settings().ticket_auto_close_days)
        params["auto_close"] = local_date(max(ticket.resolved_at, ticket.last_customer_activity_at) + quiet)
    dispatcher.utter_message(response=f"utter_ticket_status_{ticket.status}", **params)


class TicketAction:
    """An action on one of the user's tickets: finds it (see :func:`pick_ticket`), then :meth:`act` on it.

    A mixin before ``Action`` (rasa_sdk registers every ``Action`` subclass, so the base stays outside)."""

    intent: str
    none_response = "utter_no_open_tickets"

    def candidates(self, session: Session, user: User) -> Sequence[Ticket]:
        return tickets.tickets_of(session, user.id, TICKET_ACTIVE)

    def act(
        self, dispatcher: CollectingDispatcher, session: Session, user: User, ticket: Ticket, talk: Conversation
    ) -> List[EventType]:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        with session_scope() as session:
            user = user_of(session, talk)
            ticket = pick_ticket(
                dispatcher, tracker, session, user, talk.language, intent=self.intent,
                candidates=lambda: self.candidates(session, user), none_response=self.none_response,
            )
            if ticket is None:
                return []
            return self.act(dispatcher, session, user, ticket, talk)


class ActionTicketStatus(TicketAction, Action):
    intent = "ticket_status"

    def name(self) -> Text:
        return "action_ticket_status"

    def act(self, dispatcher, session, user, ticket, talk) -> List[EventType]:
        say_status(dispatcher, ticket, talk.language)
        return [SlotSet("ticket_number", ticket.reference)]


class ActionListTickets(Action):
    def name(self) -> Text:
        return "action_list_tickets"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        with session_scope() as session:
            found = tickets.tickets_of(session, user_of(session, talk).id, limit=LIST_LIMIT)
            if not found:
                dispatcher.utter_message(response="utter_no_tickets")
                return []
            lines = "\n".join(ticket_line(t, talk.language) for t in found)
        dispatcher.utter_message(response="utter_ticket_list", tickets=lines)
        return []


class ActionStartComment(TicketAction, Action):
    intent = "add_ticket_comment"

    def name(self) -> Text:
        return "action_start_comment"

    def candidates(self, session: Session, user: User) -> Sequence[Ticket]:
        return tickets.tickets_of(session, user.id, tickets.COMMENTABLE)

    def act(self, dispatcher, session, user, ticket, talk) -> List[EventType]:
        if ticket.status not in tickets.COMMENTABLE:
            dispatcher.utter_message(response="utter_ticket_is_closed", reference=ticket.reference)
            return []
        return [SlotSet("ticket_number", ticket.reference), SlotSet("ticket_comment", None),
                FollowupAction("comment_form")]


class ValidateCommentForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_comment_form"

    def validate_ticket_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"ticket_comment": None}
        comment = str(value or "").strip()
        if not comment or comment.startswith("/"):
            return {"ticket_comment": None}
        if len(comment) > tickets.COMMENT_MAX:
            dispatcher.utter_message(response="utter_ticket_description_too_long")
            return {"ticket_comment": None}
        return {"ticket_comment": comment}


class ActionSaveComment(Action):
    def name(self) -> Text:
        return "action_save_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        with session_scope() as session:
            user = user_of(session, talk)
            ticket = tickets.find_for_user(session, user.id, ticket_text.parse_reference(tracker.get_slot("ticket_number")))
            if ticket is None:
                dispatcher.utter_message(response="utter_ticket_not_found", reference=tracker.get_slot("ticket_number"))
                return [SlotSet("ticket_comment", None)]
            was_resolved = ticket.status == "resolved"
            try:
                tickets.add_comment(session, ticket, tickets.customer(user), tracker.get_slot("ticket_comment"))
            except tickets.TicketError:
                dispatcher.utter_message(response="utter_ticket_is_closed", reference=ticket.reference)
                return [SlotSet("ticket_comment", None)]
            reference = ticket.reference
        response = "utter_ticket_comment_reopened" if was_resolved else "utter_ticket_comment_added"
        dispatcher.utter_message(response=response, reference=reference)
        return [SlotSet("ticket_comment", None)]


class ActionCloseTicket(TicketAction, Action):
    intent = "close_ticket"

    def name(self) -> Text:
        return "action_close_ticket"

    def candidates(self, session: Session, user: User) -> Sequence[Ticket]:
        return tickets.tickets_of(session, user.id, tickets.CLOSABLE)

    def act(self, dispatcher, session, user, ticket, talk) -> List[EventType]:
        if ticket.status == "closed":
            dispatcher.utter_message(response="utter_ticket_already_closed", reference=ticket.reference)
            return []
        tickets.close(session, ticket, tickets.customer(user))
        dispatcher.utter_message(response="utter_ticket_closed", reference=ticket.reference)
        return [
            SlotSet("ticket_number", ticket.reference),
            SlotSet("csat_rating", None),
            SlotSet("csat_comment", None),
            FollowupAction("csat_form"),
        ]


class ActionReopenTicket(TicketAction, Action):
    intent = "reopen_ticket"
    none_response = "utter_no_reopenable_tickets"

    def name(self) -> Text:
        return "action_reopen_ticket"

    def candidates(self, session: Session, user: User) -> Sequence[Ticket]:
        return tickets.reopenable_of(session, user.id)

    def act(self, dispatcher, session, user, ticket, talk) -> List[EventType]:
        try:
            tickets.reopen(session, ticket, tickets.customer(user))
        except tickets.TicketError as exc:
            if exc.code == "too_old":
                dispatcher.utter_message(response="utter_ticket_reopen_too_old", reference=ticket.reference)
            else:
                say_status(dispatcher, ticket, talk.language)
            return []
        dispatcher.utter_message(
            response="utter_ticket_reopened", reference=ticket.reference, due=local_time(ticket.resolution_due)
        )
        return [SlotSet("ticket_number", ticket.reference)]


class ActionStartRating(Action):
    def name(self) -> Text:
        return "action_start_rating"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        with session_scope() as session:
            user = user_of(session, talk)
            number = asked_ticket_number(tracker)
            if number:
                ticket = tickets.find_for_user(session, user.id, number)
                if ticket is None:
                    dispatcher.utter_message(response="utter_ticket_not_found", reference=format_ticket_reference(number))
                    return []
            else:
                closed = tickets.tickets_of(session, user.id, ("closed",), limit=1)
                ticket = closed[0] if closed else None
            if ticket is None or ticket.status != "closed":
                dispatcher.utter_message(response="utter_no_ticket_to_rate")
                return []
            reference = ticket.reference
        rating = next(iter(tracker.get_latest_entity_values("rating")), None)
        return [
            SlotSet("ticket_number", reference),
            SlotSet("csat_rating", rating),
            SlotSet("csat_comment", None),
            FollowupAction("csat_form"),
        ]


def parse_rating(value: Any) -> Optional[int]:
    """1-5 from "4", "४", "4 stars", "★★★★"; None otherwise."""
    text = ticket_text.ascii_digits(str(value or "")).strip()
    if text and set(text) <= {"★", "⭐", " "}:
        count = text.count("★") + text.count("⭐")
        return count if 1 <= count <= 5 else None
    digits = [ch for ch in text if ch.isdigit()]
    if len(digits) != 1:
        return None
    rating = int(digits[0])
    return rating if 1 <= rating <= 5 else None


class ValidateCsatForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_csat_form"

    def validate_csat_rating(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"csat_rating": None}
        rating = parse_rating(value)
        if rating is None:
            dispatcher.utter_message(response="utter_invalid_csat_rating")
            return {"csat_rating": None}
        return {"csat_rating": str(rating)}

    def validate_csat_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"csat_comment": None}
        comment = str(value or "").strip()
        return {"csat_comment": comment if comment and not comment.startswith("/") else "-"}


class ActionSaveRating(Action):
    def name(self) -> Text:
        return "action_save_rating"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        rating = parse_rating(tracker.get_slot("csat_rating"))
        comment = tracker.get_slot("csat_comment")
        with session_scope() as session:
            user = user_of(session, talk)
            ticket = tickets.find_for_user(session, user.id, ticket_text.parse_reference(tracker.get_slot("ticket_number")))
            if ticket is not None and rating is not None:
                try:
                    tickets.rate(session, ticket, rating, None if comment in (None, "-") else comment)
                except tickets.TicketError:
                    ticket = None
        dispatcher.utter_message(response="utter_csat_thanks" if ticket is not None else "utter_no_ticket_to_rate")
        return [SlotSet("csat_rating", None), SlotSet("csat_comment", None)]
