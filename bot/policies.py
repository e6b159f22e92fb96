"""Dialogue policies of our own. ``HandoffPolicy`` keeps the bot quiet while a person has the conversation."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

log = logging.getLogger(__name__)

RELAY_ACTION = "action_relay_to_agent"


def in_agent_mode(sender_id: str) -> bool:
    """Whether a person has this conversation: the backend's open handoff is the one source of truth, so an
    agent returning the chat to the bot needs nothing from Rasa."""
    from backend.db import session_scope
    from backend.services import handoff

    with session_scope() as session:
        return handoff.open_for_sender(session, sender_id) is not None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False)
class HandoffPolicy(Policy):
    """While the conversation is in agent mode, every user message is relayed to the agent
    (``action_relay_to_agent``) and the bot says nothing; otherwise it abstains.

    Its predictions win over every other policy: they are made with full confidence, as "no user" predictions
    (which the ensemble prefers even to an active form's), and with a priority above the rule policy's.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Optional[Any] = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        latest = tracker.latest_action_name
        if latest == RELAY_ACTION:
            action = ACTION_LISTEN_NAME
        elif latest == ACTION_LISTEN_NAME and tracker.latest_message and self._agent_mode(tracker.sender_id):
            action = RELAY_ACTION
        else:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)

    @staticmethod
    def _agent_mode(sender_id: str) -> bool:
        try:
            return in_agent_mode(sender_id)
        except Exception:  # noqa: BLE001 - the database is down: the bot answering beats silence
            log.exception("Could not tell whether %s is with an agent; the bot answers", sender_id)
            return False
