from bot.language.names import LanguageNames


def test_finds_names_in_any_script_with_their_span():
    names = LanguageNames()
    text = "please switch to Tamil"
    (mention,) = names.find(text)
    assert (mention.code, text[mention.start : mention.end]) == ("ta", "Tamil")
    assert [m.code for m in names.find("हिंदी में बात करो")] == ["hi"]
    assert [m.code for m in names.find("cambia a español por favor")] == ["es"]


def test_inflected_forms_are_recognised_as_the_whole_word():
    names = LanguageNames()
    (mention,) = names.find("தமிழில் பேசுங்கள்")
    assert mention.code == "ta" and mention.text == "தமிழில்"


def test_lang_command_accepts_codes_and_names():
    names = LanguageNames()
    assert names.command("/lang ta").code == "ta"
    assert names.command("/lang hi-latn").code == "hi-Latn"
    assert names.command("/lang french").code == "fr"
    assert names.command("/lang klingon") is None


def test_bare_codes_outside_a_command_are_not_language_names():
    names = LanguageNames()
    names.learn([("en", "en"), ("ta", "ta"), ("tamizhla", "ta")])
    assert names.find("en ticket enna aachu") == []
    assert [m.code for m in names.find("tamizhla pesunga")] == ["ta"]


def test_glued_case_endings_count_but_other_words_that_start_with_a_name_do_not():
    names = LanguageNames()
    assert [m.code for m in names.find("tamilla pesunga")] == ["ta"]
    assert [m.code for m in names.find("hindime baat karo")] == ["hi"]
    assert [m.code for m in names.find("தமிழில் பேசுங்கள்")] == ["ta"]
    assert names.find("இந்தியா பாகிஸ்தான் மேட்ச்") == []
    assert names.find("englishman in new york") == []


def test_tamil_nadu_is_a_place_not_a_language():
    assert LanguageNames().find("who is the chief minister of tamil nadu") == []
    assert [m.code for m in LanguageNames().find("tamil please, I live in Tamil Nadu")] == ["ta"]
