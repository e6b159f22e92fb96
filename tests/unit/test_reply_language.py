from bot.language.preference import reply_language, sdk_parse_history


def parse(code, reliable=True, confidence=0.9):
    return {"language": {"code": code, "reliable": reliable, "confidence": confidence}}


def test_a_chosen_language_holds_over_detection():
    assert reply_language([parse("hi")], preferred="ta", remembered=None) == "ta"


def test_a_clear_message_sets_the_language():
    assert reply_language([parse("hi")], preferred=None, remembered="en") == "hi"


def test_a_short_message_keeps_the_last_clear_language_of_the_conversation():
    history = [parse("en", reliable=False), parse("ta-Latn")]
    assert reply_language(history, preferred=None, remembered="en") == "ta-Latn"


def test_a_short_message_falls_back_to_the_stored_language():
    assert reply_language([parse("en", reliable=False)], preferred=None, remembered="hi") == "hi"


def test_a_new_user_gets_the_best_guess_then_the_default():
    assert reply_language([parse("es", reliable=False)], preferred=None, remembered=None) == "es"
    assert reply_language([parse("es", reliable=False, confidence=0.3)], preferred=None, remembered=None) == "en"
    assert reply_language([{}], preferred=None, remembered=None) == "en"
    assert reply_language([], preferred=None, remembered=None) == "en"


def test_sdk_history_stops_at_the_session_start_and_is_newest_first():
    events = [
        {"event": "user", "parse_data": parse("hi")},
        {"event": "session_started"},
        {"event": "user", "parse_data": parse("ta")},
        {"event": "bot", "text": "..."},
        {"event": "user", "parse_data": parse("es")},
    ]
    assert [p["language"]["code"] for p in sdk_parse_history(events)] == ["es", "ta"]


def test_a_new_users_one_word_messages_carry_on_in_the_language_they_started_in():
    vanakkam = parse("ta-Latn", reliable=False, confidence=0.9)
    menu = parse("en", reliable=False, confidence=1.0)
    assert reply_language([menu, vanakkam], preferred=None, remembered=None) == "ta-Latn"
    assert reply_language([vanakkam, menu], preferred=None, remembered=None) == "ta-Latn"
    assert reply_language([menu], preferred=None, remembered=None) == "en"
    assert reply_language([menu, vanakkam], preferred=None, remembered="hi") == "hi", "what was stored wins"
