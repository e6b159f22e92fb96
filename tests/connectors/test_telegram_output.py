"""What the Telegram channel, poller and sender share: splitting, button payloads, media URLs, settings."""
from __future__ import annotations

import unicodedata

import pytest

from connectors.telegram_output import (
    MAX_CALLBACK_DATA_BYTES,
    CallbackPayloads,
    TelegramSettings,
    inline_keyboard,
    is_private_url,
    make_bot,
    split_text,
    telegram_length,
)


def test_a_short_text_is_one_part_and_exactly_4096_still_fits():
    assert split_text("hello") == ["hello"]
    assert split_text("a" * 4096) == ["a" * 4096]
    assert split_text("   ") == []


def test_a_long_text_is_cut_at_paragraphs_then_lines_then_words():
    first, second = "word " * 700, "line " * 300
    parts = split_text(f"{first.strip()}\n\n{second.strip()}\n{'tail ' * 200}")
    assert parts[0] == first.strip()
    assert all(telegram_length(p) <= 4096 for p in parts)
    words = split_text("alpha " * 2000)
    assert all(p.split()[-1] == "alpha" for p in words) and len(words) == 3


def test_length_is_counted_as_telegram_counts_it_so_emoji_take_two():
    text = "🙏" * 3000  # 6000 UTF-16 code units, 3000 code points
    parts = split_text(text)
    assert [telegram_length(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text


def test_a_text_without_spaces_is_never_cut_between_a_letter_and_its_marks():
    tamil = "கொ" * 3000  # each letter is a consonant and a combining vowel sign
    parts = split_text(tamil)
    assert "".join(parts) == tamil
    assert all(not unicodedata.category(p[0]).startswith("M") for p in parts)
    hindi = "क्षि" * 1500
    assert all(not unicodedata.category(p[0]).startswith("M") and p[0] != "\u094d" for p in split_text(hindi))


def test_payloads_that_fit_travel_as_they_are_and_longer_ones_as_a_key_that_maps_back():
    callbacks = CallbackPayloads(known=lambda: [])
    assert callbacks.data_for("/affirm") == "/affirm"
    long_payload = "/inform" + '{"product": "' + "basmati rice 25 kg bag " * 4 + '"}'
    key = callbacks.data_for(long_payload)
    assert len(key.encode()) <= MAX_CALLBACK_DATA_BYTES and key.startswith(CallbackPayloads.PREFIX)
    assert callbacks.payload_for(key) == long_payload and callbacks.payload_for("/affirm") == "/affirm"
    multibyte = "/choose" + '{"item": "' + "அரிசி" * 4 + '"}'  # 20 characters, but over 64 bytes
    assert callbacks.payload_for(callbacks.data_for(multibyte)) == multibyte
    assert CallbackPayloads(known=lambda: []).payload_for(key) is None


def test_the_key_memory_is_bounded():
    callbacks = CallbackPayloads(capacity=2, known=lambda: [])
    keys = [callbacks.data_for("/x" + "y" * 70 + str(n)) for n in range(3)]
    assert callbacks.payload_for(keys[0]) is None and callbacks.payload_for(keys[2]).endswith("2")


def test_rasa_buttons_become_one_button_per_row_url_buttons_open_the_url_and_empty_ones_go():
    markup = inline_keyboard([{"title": "Change language", "payload": "/switch_language"},
                              {"title": "Our website", "url": "https://example.com", "type": "web_url"},
                              {"title": "", "payload": "/untitled"}, {"title": " ", "payload": ""}],
                             CallbackPayloads(known=lambda: []))
    rows = markup.to_dict()["inline_keyboard"]
    assert rows == [[{"text": "Change language", "callback_data": "/switch_language"}],
                    [{"text": "Our website", "url": "https://example.com"}],
                    [{"text": "/untitled", "callback_data": "/untitled"}]]
    assert inline_keyboard([]) is None


@pytest.mark.parametrize("url, private", [
    ("http://127.0.0.1:8000/charts/1.png", True), ("http://localhost/x.csv", True),
    ("http://10.1.2.3/x.png", True), ("http://192.168.0.7/x.png", True), ("http://backend:8000/x", True),
    ("http://[::1]:8000/x", True), ("http://printer.local/x", True),
    ("https://example.com/x.png", False), ("https://93.184.216.34/x.png", False),
])
def test_urls_telegram_cannot_fetch_are_recognised(url, private):
    assert is_private_url(url) is private


@pytest.mark.parametrize("raw, policy", [(None, "refuse"), ("false", "refuse"), ("no", "refuse"),
                                         ("TRUE", "serve"), ("1", "serve"), ("ignore", "ignore"),
                                         ("maybe", "refuse")])
def test_group_policy_from_telegram_allow_groups(raw, policy):
    environ = {"TELEGRAM_BOT_TOKEN": "1:x"}
    if raw is not None:
        environ["TELEGRAM_ALLOW_GROUPS"] = raw
    assert TelegramSettings.from_environ(environ).groups == policy


def test_numbers_are_checked_and_blank_values_are_unset():
    settings = TelegramSettings.from_environ({"TELEGRAM_BOT_TOKEN": "  ", "TELEGRAM_TIMEOUT": "abc",
                                              "TELEGRAM_MAX_FLOOD_WAIT": "0"})
    assert (settings.token, settings.configured, settings.timeout, settings.max_flood_wait) == (None, False, 10.0, 0)
    assert "secret-token" not in repr(TelegramSettings(token="1:secret-token", webhook_secret="hush"))
    assert "hush" not in repr(TelegramSettings(token="1:secret-token", webhook_secret="hush"))


@pytest.mark.parametrize("base, expected", [
    (None, "https://api.telegram.org/bot1:x"),
    ("http://127.0.0.1:8081", "http://127.0.0.1:8081/bot1:x"),
    ("http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot1:x"),
    ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot1:x"),
])
def test_the_api_base_url_is_a_server_root_or_ptbs_own_form(base, expected):
    assert make_bot("1:x", api_base_url=base).base_url == expected
