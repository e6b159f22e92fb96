"""The real deep-translator client against a local LibreTranslate-speaking server."""
import pytest

from bot.translation import PAUSE_AFTER_FAILURE, Translator
from tests.fakes.libretranslate import FakeLibreTranslate

FIXED = {("fr", "en", "bonjour tout le monde"): "hello everyone", ("en", "fr", "Hello!"): "Bonjour !"}


class MemoryStore:
    def __init__(self):
        self.rows = {}

    def lookup(self, provider, source, target, text):
        return self.rows.get((provider, source, target, text))

    def store(self, provider, source, target, text, translated):
        self.rows[(provider, source, target, text)] = translated


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake():
    with FakeLibreTranslate(FIXED, api_key="secret") as server:
        yield server


def libre(fake, **kwargs):
    return Translator("libre", url=fake.url, api_key="secret", timeout=2, **kwargs)


def test_translates_through_the_libretranslate_api(fake):
    assert libre(fake).translate("bonjour tout le monde", "fr", "en") == "hello everyone"
    (request,) = fake.requests
    assert request["path"] == "/translate"
    assert (request["q"], request["source"], request["target"], request["api_key"]) == (
        "bonjour tout le monde", "fr", "en", "secret")


def test_translations_are_cached(fake):
    store = MemoryStore()
    translator = libre(fake, cache=store)
    assert translator.translate("Hello!", "en", "fr") == "Bonjour !"
    assert translator.translate("Hello!", "en", "fr") == "Bonjour !"
    assert len(fake.requests) == 1
    assert store.rows == {("libre", "en", "fr", "Hello!"): "Bonjour !"}


def test_same_language_and_empty_text_need_no_request(fake):
    translator = libre(fake)
    assert translator.translate("Hello!", "en", "en") == "Hello!"
    assert translator.translate("  ", "en", "fr") == "  "
    assert fake.requests == []


def test_a_server_error_gives_none_and_pauses_translation(fake):
    clock = Clock()
    translator = libre(fake, clock=clock)
    fake.mode = "error"
    assert translator.translate("Hello!", "en", "fr") is None
    assert not translator.available
    assert translator.translate("Hello!", "en", "fr") is None
    assert len(fake.requests) == 1, "no request while paused"
    fake.mode = "ok"
    clock.now += PAUSE_AFTER_FAILURE + 1
    assert translator.translate("Hello!", "en", "fr") == "Bonjour !"


def test_a_peer_that_does_not_answer_times_out(fake):
    fake.mode, fake.hang_seconds = "hang", 3
    translator = Translator("libre", url=fake.url, api_key="secret", timeout=0.5)
    assert translator.translate("Hello!", "en", "fr") is None
    assert not translator.available


def test_a_wrong_key_is_a_failure_not_a_crash(fake):
    assert Translator("libre", url=fake.url, api_key="wrong", timeout=2).translate("Hello!", "en", "fr") is None


def test_without_a_provider_nothing_is_translated():
    translator = Translator("none")
    assert not translator.configured and not translator.available
    assert translator.translate("bonjour", "fr", "en") is None


def test_an_unreachable_google_gives_none_quickly():
    # No network here: deep-translator's request fails, and we say "no translation".
    translator = Translator("google", timeout=3)
    assert translator.translate("bonjour tout le monde", "fr", "en") is None
