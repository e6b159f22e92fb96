from rasa.shared.nlu.training_data.message import Message

from bot.nlu.intent_overrides import IntentOverrides
from bot.nlu.language_identifier import LanguageIdentifier
from bot.translation import Translator
from tests.fakes.libretranslate import FakeLibreTranslate


def identifier(translator=None):
    component = LanguageIdentifier({**LanguageIdentifier.get_default_config()}, None, None)
    component._translator = translator or Translator("none")
    return component


def process(component, text):
    message = Message(data={"text": text})
    component.process([message])
    return message


def test_native_messages_are_identified_and_left_as_written():
    message = process(identifier(), "मुझे किसी इंसान से बात करनी है")
    assert message.get("text") == "मुझे किसी इंसान से बात करनी है"
    assert message.get("language")["code"] == "hi"
    assert message.get("language")["translated"] is False


def test_foreign_messages_are_translated_for_nlu_and_the_original_kept():
    text = "je voudrais parler à une personne de votre équipe"
    with FakeLibreTranslate({("fr", "en", text): "I would like to talk to a person from your team"}) as fake:
        message = process(identifier(Translator("libre", url=fake.url, timeout=2)), text)
    assert message.get("text") == "I would like to talk to a person from your team"
    assert message.get("original_text") == text
    assert message.get("language") == {**message.get("language"), "code": "fr", "translated": True}


def test_language_names_become_entities():
    message = process(identifier(), "please talk to me in Tamil")
    (entity,) = message.get("entities")
    assert (entity["entity"], entity["value"], "please talk to me in Tamil"[entity["start"]:entity["end"]]) == (
        "language", "ta", "Tamil")


def test_huge_messages_are_cut():
    message = process(identifier(), "help " * 5000)
    assert len(message.get("text")) == LanguageIdentifier.get_default_config()["max_characters"]


def classify(text, intent="greet", confidence=0.9, language=None):
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": confidence},
                            "language": language or {}})
    IntentOverrides().process([message])
    return message.get("intent")["name"]


def test_overrides():
    assert classify("/lang ta", intent="greet") == "switch_language"
    assert classify("/lang klingon", intent="greet") == "greet"
    assert classify("/start") == "greet"
    assert classify("/help@SahayakBot") == "ask_help"
    assert classify("   ") == "nlu_fallback"
    assert classify("what's the weather", intent="out_of_scope") == "nlu_fallback"
    untranslated = {"code": "fr", "reliable": True, "translated": False}
    assert classify("je voudrais parler à quelqu'un", language=untranslated) == "nlu_fallback"
    assert classify("hello there friend", language={"code": "en", "reliable": True}) == "greet"


def test_an_overridden_intent_heads_the_ranking_with_what_the_classifier_said_behind_it():
    ranking = [{"name": "out_of_scope", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}]
    message = Message(data={"text": "what's the weather", "intent": dict(ranking[0]), "intent_ranking": ranking})
    IntentOverrides().process([message])
    assert message.get("intent")["name"] == "nlu_fallback"
    assert [e["name"] for e in message.get("intent_ranking")] == ["nlu_fallback", "out_of_scope", "greet"]
