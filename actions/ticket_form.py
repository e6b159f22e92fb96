"""Opening a ticket: the form that collects category, description and details, then one service call."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation
from actions.handoff import escalate
from actions.helpdesk_text import category_name, local_time, user_text
from backend.db import session_scope
from backend.models import TICKET_CATEGORIES
from backend.services import ticket_text, tickets, users
from bot.render import render_response

FORM_SLOTS = ("ticket_category", "ticket_description", "ticket_details", "ticket_confirmed")
CHANGEABLE = ("ticket_category", "ticket_description", "ticket_details")
SKIPPED = "-"
DESCRIPTION_MIN_CHARACTERS = 8


class ActionStartTicket(Action):
    """Starts the form with what the message already says: "my parcel never came" names the problem."""

    def name(self) -> Text:
        return "action_start_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        chosen = next(
            (c for c in tracker.get_latest_entity_values("ticket_category") if c in TICKET_CATEGORIES), None
        )
        text = user_text(tracker)
        mentioned = ticket_text.categories_mentioned(text)
        category = chosen or (next(iter(mentioned)) if len(mentioned) == 1 else None)
        description = text if mentioned and len(text) >= DESCRIPTION_MIN_CHARACTERS else None
        return [
            SlotSet("ticket_category", category),
            SlotSet("ticket_description", description),
            SlotSet("ticket_details", None),
            SlotSet("ticket_confirmed", None),
            FollowupAction("ticket_form"),
        ]


class ValidateTicketForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_ticket_form"

    def validate_ticket_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"ticket_category": None}
        category = value if value in TICKET_CATEGORIES else ticket_text.parse_category(str(value or ""))
        if category is None:
            dispatcher.utter_message(response="utter_invalid_ticket_category")
        return {"ticket_category": category}

    def validate_ticket_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"ticket_description": None}
        description = str(value or "").strip()
        if description.startswith("/") or len(description) < DESCRIPTION_MIN_CHARACTERS:
            dispatcher.utter_message(response="utter_invalid_ticket_description")
            return {"ticket_description": None}
        if len(description) > tickets.DESCRIPTION_MAX:
            dispatcher.utter_message(response="utter_ticket_description_too_long")
            return {"ticket_description": None}
        return {"ticket_description": description}

    def validate_ticket_details(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"ticket_details": None}
        details = str(value or "").strip()
        if not details or details.startswith("/"):
            details = SKIPPED
        return {"ticket_details": details[: tickets.DETAILS_MAX]}

    def validate_ticket_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered
            return {"ticket_confirmed": None}
        if value == "yes":
            return {"ticket_confirmed": "yes"}
        if value in CHANGEABLE:
            return {"ticket_confirmed": None, value: None}
        dispatcher.utter_message(response="utter_invalid_ticket_confirmed")
        return {"ticket_confirmed": None}


class ActionAskTicketConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_ticket_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        language = conversation(tracker).language
        details = tracker.get_slot("ticket_details")
        dispatcher.utter_message(
            response="utter_ask_ticket_confirmed",
            category_name=category_name(tracker.get_slot("ticket_category") or "other", language),
            description=tracker.get_slot("ticket_description") or "",
            details=details if details and details != SKIPPED else _no_details(language),
        )
        return []


def _no_details(language: str) -> str:
    return render_response("utter_ticket_no_details", language)["text"]


class ActionCreateTicket(Action):
    def name(self) -> Text:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        details: Optional[str] = tracker.get_slot("ticket_details")
        with session_scope() as session:
            user = users.identify(session, talk.channel, talk.channel_user_id)
            users.set_language(session, user, talk.language, explicit=False)
            ticket, created = tickets.open_ticket(
                session,
                user=user,
                channel=talk.channel,
                language=talk.language,
                category=tracker.get_slot("ticket_category"),
                description=tracker.get_slot("ticket_description"),
                details=None if details == SKIPPED else details,
            )
            reference, due, urgent = ticket.reference, ticket.first_response_due, ticket.priority == "urgent"
        events: List[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS] + [SlotSet("ticket_number", reference)]
        if created:
            dispatcher.utter_message(response="utter_ticket_created", reference=reference, due=local_time(due))
        else:
            dispatcher.utter_message(response="utter_ticket_duplicate", reference=reference)
        if urgent:
            # A watch's SOS that fails, money taken twice: a person looks at it now.
            dispatcher.utter_message(response="utter_handoff_urgent")
            events += escalate(dispatcher, tracker, "urgent", ticket_id=ticket.id)
        return events


class ActionCancelForm(Action):
    """"No" while a form asks something: stop the form and say what did not happen."""

    RESPONSES = {
        "ticket_form": "utter_ticket_cancelled",
        "comment_form": "utter_ticket_comment_cancelled",
        "csat_form": "utter_csat_skipped",
        "link_form": "utter_stock_update_cancelled",
    }
    SLOTS = {
        "ticket_form": FORM_SLOTS,
        "comment_form": ("ticket_comment",),
        "csat_form": ("csat_rating", "csat_comment"),
        "link_form": ("link_code",),
    }

    def name(self) -> Text:
        return "action_cancel_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        form = (tracker.active_loop or {}).get("name")
        dispatcher.utter_message(response=self.RESPONSES.get(form, "utter_deny_ack"))
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + [
            SlotSet(slot, None) for slot in self.SLOTS.get(form, ())
        ]
