"""Retail stock over chat: lookups for everyone (counts only for the location's retailers), changes for
retailers with a confirmation first, and linking a retailer's account with a one-time code."""
from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.conversation import conversation, user_of
from actions.helpdesk_text import user_text
from backend.db import session_scope
from backend.models import Location, Product
from backend.services import product_match, retailers, stock, stock_text, users
from bot.render import render_response

CHOICES = 4
PENDING_SLOTS = ("stock_sku", "stock_location", "stock_quantity", "stock_kind", "stock_op_id")


def cleared_update() -> List[EventType]:
    """Forget a pending stock change."""
    return [SlotSet(slot, None) for slot in PENDING_SLOTS] + [SlotSet("stock_pending", False)]


def unit_name(unit: str, language: str) -> str:
    try:
        return render_response(f"utter_unit_{unit}", language)["text"]
    except KeyError:
        return unit


def _entity(tracker: Tracker, name: str) -> Optional[str]:
    return next((str(v) for v in tracker.get_latest_entity_values(name) if v), None)


def find_product(
    dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, text: str, language: str, intent: str
) -> Optional[Product]:
    """The product the message names (a button's SKU, or the catalogue's names), or None after offering
    choices or suggestions as buttons."""
    sku = _entity(tracker, "sku")
    if sku:
        return session.execute(select(Product).where(Product.sku == sku, Product.active.is_(True))).scalar_one_or_none()
    if not text:
        dispatcher.utter_message(response="utter_stock_which_product")
        return None
    result = product_match.index_for(session).find(stock_text.without_stock_words(text))
    if result.best is not None:
        return session.get(Product, result.best.product_id)
    offered = result.choices or result.suggestions
    products = [session.get(Product, m.product_id) for m in offered[:CHOICES]]
    buttons = [{"title": p.name_in(language), "payload": f'/{intent}{{"sku": "{p.sku}"}}'} for p in products]
    if result.choices:
        dispatcher.utter_message(response="utter_stock_choose_product", buttons=buttons)
    elif buttons:
        dispatcher.utter_message(response="utter_stock_product_unknown", buttons=buttons)
    else:
        dispatcher.utter_message(response="utter_stock_which_product")
    return None


def _location_named(session: Session, tracker: Tracker, text: str) -> Optional[Location]:
    code = _entity(tracker, "stock_location") or stock_text.location(text)
    if not code:
        return None
    return session.execute(select(Location).where(Location.code == code)).scalar_one_or_none()


class ActionCheckStock(Action):
    def name(self) -> Text:
        return "action_check_stock"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        text = user_text(tracker)
        with session_scope() as session:
            user = user_of(session, talk)
            mine = stock.locations_of(session, user.id)
            named = _location_named(session, tracker, text)
            if mine and text and stock_text.asks_for_low(text) and not _entity(tracker, "sku"):
                self._low(dispatcher, session, [named] if named in mine else mine, talk.language)
                return []
            product = find_product(dispatcher, tracker, session, text, talk.language, "check_stock")
            if product is None:
                return []
            name = product.name_in(talk.language)
            counted = [named] if named in mine else ([] if named else mine)
            if counted:
                lines = []
                for location in counted:
                    level = stock.level(session, product.id, location.id)
                    quantity = level.quantity if level else 0
                    lines.append(f"• {location.name}: {quantity} ({unit_name(product.unit, talk.language)})")
                dispatcher.utter_message(response="utter_stock_levels", product=name, levels="\n".join(lines))
                return []
            # Anyone else learns only whether the stores have it, not how many.
            stores = self._stores_with(session, product, named)
            if stores:
                dispatcher.utter_message(response="utter_stock_available", product=name, stores=", ".join(stores))
            else:
                dispatcher.utter_message(response="utter_stock_unavailable", product=name)
        return []

    @staticmethod
    def _stores_with(session: Session, product: Product, named: Optional[Location]) -> list[str]:
        stores = session.execute(select(Location).where(Location.kind == "store").order_by(Location.id)).scalars()
        found = []
        for location in stores:
            if named is not None and location.id != named.id:
                continue
            level = stock.level(session, product.id, location.id)
            if level is not None and level.quantity > 0:
                found.append(location.name)
        return found

    @staticmethod
    def _low(dispatcher: CollectingDispatcher, session: Session, locations: Sequence[Location], language: str) -> None:
        for location in locations:
            low = stock.low_at(session, location.id)
            if not low:
                dispatcher.utter_message(response="utter_stock_nothing_low", location=location.name)
                continue
            items = "\n".join(
                f"• {level.product.name_in(language)}: {level.quantity} ({unit_name(level.product.unit, language)}), "
                f"≤ {level.reorder_point}"
                for level in low
            )
            dispatcher.utter_message(response="utter_stock_low_list", location=location.name, items=items)


class ActionPrepareStockUpdate(Action):
    """Reads the change from the message (and, after a button, from what it read before), then asks to confirm."""

    def name(self) -> Text:
        return "action_prepare_stock_update"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        text = user_text(tracker)
        from_button = not text
        if text and stock_text.movement(text) is None:
            # No word says anything happened ("how many blue kurtas do we have"): it is a question.
            return await ActionCheckStock().run(dispatcher, tracker, domain)
        with session_scope() as session:
            user = user_of(session, talk)
            mine = stock.locations_of(session, user.id)
            if not mine:
                dispatcher.utter_message(response="utter_stock_update_not_allowed")
                return cleared_update()
            kind = stock_text.movement(text) if text else tracker.get_slot("stock_kind")
            quantity = stock_text.quantity(text) if text else tracker.get_slot("stock_quantity")
            if kind is None or quantity is None:
                dispatcher.utter_message(response="utter_stock_update_incomplete")
                return cleared_update()
            events: List[EventType] = [SlotSet("stock_kind", kind), SlotSet("stock_quantity", quantity)]
            if from_button and tracker.get_slot("stock_sku") and not _entity(tracker, "sku"):
                product = session.execute(select(Product).where(Product.sku == tracker.get_slot("stock_sku"))).scalar_one_or_none()
            else:
                product = find_product(dispatcher, tracker, session, text, talk.language, "update_stock")
            if product is None:
                return events + [SlotSet("stock_pending", False)]
            events.append(SlotSet("stock_sku", product.sku))
            named = _location_named(session, tracker, text) or (
                session.execute(select(Location).where(Location.code == tracker.get_slot("stock_location"))).scalar_one_or_none()
                if from_button and tracker.get_slot("stock_location") else None
            )
            if named is not None and named not in mine:
                dispatcher.utter_message(response="utter_stock_update_not_allowed")
                return cleared_update()
            location = named or (mine[0] if len(mine) == 1 else None)
            if location is None:
                buttons = [{"title": l.name, "payload": f'/update_stock{{"stock_location": "{l.code}"}}'} for l in mine]
                dispatcher.utter_message(response="utter_stock_choose_location", buttons=buttons)
                return events + [SlotSet("stock_pending", False)]
            dispatcher.utter_message(
                response=f"utter_stock_confirm_{kind}", product=product.name_in(talk.language),
                location=location.name, quantity=int(quantity), unit=unit_name(product.unit, talk.language),
            )
        return events + [
            SlotSet("stock_location", location.code),
            SlotSet("stock_op_id", uuid.uuid4().hex),
            SlotSet("stock_pending", True),
        ]



class ActionApplyStockUpdate(Action):
    def name(self) -> Text:
        return "action_apply_stock_update"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        kind, quantity = tracker.get_slot("stock_kind"), int(tracker.get_slot("stock_quantity") or 0)
        clear = cleared_update()
        with session_scope() as session:
            user = user_of(session, talk)
            product = session.execute(select(Product).where(Product.sku == tracker.get_slot("stock_sku"))).scalar_one_or_none()
            location = session.execute(
                select(Location).where(Location.code == tracker.get_slot("stock_location"))
            ).scalar_one_or_none()
            if product is None or location is None or location not in stock.locations_of(session, user.id):
                dispatcher.utter_message(response="utter_stock_update_not_allowed")
                return clear
            params = dict(product=product.name_in(talk.language), location=location.name,
                          unit=unit_name(product.unit, talk.language))
            actor = f"retailer:{user.id}"
            if kind == "reorder":
                stock.set_reorder_point(session, product_id=product.id, location_id=location.id,
                                        reorder_point=quantity, actor=actor)
                dispatcher.utter_message(response="utter_stock_reorder_set", quantity=quantity, **params)
                return clear
            before = stock.level(session, product.id, location.id)
            before_quantity = before.quantity if before else 0
            try:
                applied = stock.apply(
                    session, product_id=product.id, location_id=location.id,
                    kind="adjusted" if kind == "counted" else kind, quantity=quantity, actor=actor,
                    channel=talk.channel, idempotency_key=f"chat:{tracker.get_slot('stock_op_id')}",
                )
            except stock.StockError as exc:
                if exc.code != "insufficient":
                    raise
                dispatcher.utter_message(response="utter_stock_insufficient", quantity=before_quantity, **params)
                return clear
            if applied.created:
                before_quantity = applied.quantity - applied.movement.delta
            dispatcher.utter_message(response="utter_stock_updated", quantity=applied.quantity,
                                     before=before_quantity, **params)
        return clear


class ActionCancelStockUpdate(Action):
    def name(self) -> Text:
        return "action_cancel_stock_update"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_stock_update_cancelled")
        return cleared_update()


class ActionStartLink(Action):
    def name(self) -> Text:
        return "action_start_link"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        code = retailers.find_code(user_text(tracker))
        if code:
            return link_account(dispatcher, tracker, code)
        return [SlotSet("link_code", None), FollowupAction("link_form")]


class ValidateLinkForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_link_form"

    def validate_link_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:
            return {"link_code": None}
        code = retailers.find_code(str(value))
        if code is None:
            dispatcher.utter_message(response="utter_link_invalid")
        return {"link_code": code}


class ActionLinkAccount(Action):
    def name(self) -> Text:
        return "action_link_account"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        return link_account(dispatcher, tracker, tracker.get_slot("link_code") or "")


def link_account(dispatcher: CollectingDispatcher, tracker: Tracker, code: str) -> List[EventType]:
    talk = conversation(tracker)
    with session_scope() as session:
        result = retailers.redeem(session, channel=talk.channel, channel_user_id=talk.channel_user_id, code=code)
        if result.refused:
            dispatcher.utter_message(response=f"utter_link_{result.refused}")
        else:
            users.set_language(session, result.user, talk.language, explicit=False)
            dispatcher.utter_message(response="utter_link_done", location=result.location.name)
    return [SlotSet("link_code", None)]
