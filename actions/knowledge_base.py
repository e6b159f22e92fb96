"""Questions answered from the knowledge base, and "did this help?"."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation
from actions.handoff import escalate
from actions.helpdesk_text import user_text
from backend.db import session_scope
from backend.services import knowledge_base, users
from bot.render import render_response

# "No" to "did this help?" this many times in a row brings in a person.
NOT_HELPED_BEFORE_A_PERSON = 2


class ActionAnswerFaq(Action):
    def name(self) -> Text:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        return answer_question(dispatcher, tracker)


def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    """Answer the latest message from the knowledge base: the article and "did this help?", the likely
    articles to pick from, or an honest "I don't know" with a ticket or a person on offer."""
    talk = conversation(tracker)
    picked = next(iter(tracker.get_latest_entity_values("faq_article")), None)
    if picked:
        return _show_pick(dispatcher, tracker, talk, str(picked))
    question = user_text(tracker)
    if not question:
        dispatcher.utter_message(response="utter_faq_unknown")
        return [SlotSet("faq_feedback_pending", False)]
    # A message in a language we do not speak natively reaches NLU machine-translated to English.
    searched = (tracker.latest_message or {}).get("text") or question
    with session_scope() as session:
        user = users.identify(session, talk.channel, talk.channel_user_id)
        answer = knowledge_base.answer(
            session, question, language=talk.language, user_id=user.id, search_text=searched
        )
    if answer.suggestions:
        # Unsure: offer the likely articles, then a ticket or a person (the unknown answer's buttons).
        buttons = [
            {"title": title, "payload": f'/ask_faq{{"faq_article": "{slug}"}}'} for slug, title in answer.suggestions
        ] + render_response("utter_faq_unknown", talk.language)["buttons"]
        dispatcher.utter_message(response="utter_faq_suggest", buttons=buttons)
        return [SlotSet("faq_query_id", answer.query_id), SlotSet("faq_feedback_pending", False)]
    if not answer.answered:
        dispatcher.utter_message(response="utter_faq_unknown")
        return [SlotSet("faq_query_id", answer.query_id), SlotSet("faq_feedback_pending", False)]
    return _answer(dispatcher, answer)


def _answer(dispatcher: CollectingDispatcher, answer: knowledge_base.Answer) -> List[EventType]:
    dispatcher.utter_message(response="utter_faq_answer", title=answer.title, body=answer.body)
    dispatcher.utter_message(response="utter_ask_faq_helpful")
    return [SlotSet("faq_query_id", answer.query_id), SlotSet("faq_feedback_pending", True)]


def _show_pick(dispatcher: CollectingDispatcher, tracker: Tracker, talk, slug: str) -> List[EventType]:
    query_id = tracker.get_slot("faq_query_id")
    with session_scope() as session:
        user = users.identify(session, talk.channel, talk.channel_user_id)
        try:
            answer = knowledge_base.show(
                session, slug, query_id=int(query_id) if query_id is not None else None,
                language=talk.language, user_id=user.id,
            )
        except knowledge_base.ArticleNotFound:
            dispatcher.utter_message(response="utter_faq_unknown")
            return [SlotSet("faq_feedback_pending", False)]
    return _answer(dispatcher, answer)


class ActionFaqFeedback(Action):
    def name(self) -> Text:
        return "action_faq_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        helped = tracker.get_intent_of_latest_message() == "affirm"
        query_id = tracker.get_slot("faq_query_id")
        if query_id is not None:
            with session_scope() as session:
                user = users.identify(session, talk.channel, talk.channel_user_id)
                try:
                    knowledge_base.record_feedback(session, int(query_id), helped, user_id=user.id)
                except LookupError:
                    pass  # a slot carried over from another database (tests) or a deleted question
        if helped:
            dispatcher.utter_message(response="utter_faq_helped")
            return [SlotSet("faq_feedback_pending", False), SlotSet("faq_not_helped", 0.0)]
        misses = int(tracker.get_slot("faq_not_helped") or 0) + 1
        if misses >= NOT_HELPED_BEFORE_A_PERSON:
            dispatcher.utter_message(response="utter_handoff_not_helped")
            return escalate(dispatcher, tracker, "not_helped") + [
                SlotSet("faq_feedback_pending", False), SlotSet("faq_not_helped", 0.0)]
        dispatcher.utter_message(response="utter_faq_not_helped")
        return [SlotSet("faq_feedback_pending", False), SlotSet("faq_not_helped", float(misses))]
