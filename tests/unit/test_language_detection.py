import pytest

from bot.language.detect import detect


@pytest.mark.parametrize(
    "text, language",
    [
        ("मेरा टिकट कहाँ है?", "hi"),
        ("नमस्ते", "hi"),
        ("என் டிக்கெட் என்ன ஆச்சு", "ta"),
        ("வணக்கம்", "ta"),
        ("mera ticket kahan hai", "hi-Latn"),
        ("mujhe help chahiye yaar", "hi-Latn"),
        ("en ticket enna aachu", "ta-Latn"),
        ("enakku help venum pa", "ta-Latn"),
        ("hello, what can you do for me?", "en"),
        ("hola, ¿qué puedes hacer por mí?", "es"),
        ("je voudrais parler à quelqu'un de votre équipe s'il vous plaît", "fr"),
        ("আমি একজন মানুষের সাথে কথা বলতে চাই", "bn"),
    ],
)
def test_identifies_the_language_and_script(text, language):
    assert detect(text).language == language


@pytest.mark.parametrize("text", ["नमस्ते मुझे मदद चाहिए", "mujhe madad chahiye please", "where is my order please"])
def test_clear_messages_are_reliable(text):
    assert detect(text).reliable


@pytest.mark.parametrize("text", ["ok", "hi", "👍", "123", "", "   ", "??"])
def test_short_or_empty_messages_are_not_reliable(text):
    assert not detect(text).reliable


def test_emoji_and_digits_only_have_no_language():
    assert detect("👍🙏 123").language is None


def test_mixed_scripts_follow_the_majority_with_lower_confidence():
    pure = detect("मुझे मदद चाहिए")
    mixed = detect("मुझे मदद चाहिए please help")
    assert mixed.language == "hi"
    assert mixed.confidence < pure.confidence


def test_a_distinct_romanized_word_in_code_mixed_text_wins_over_english():
    assert detect("options list podu").language == "ta-Latn"
    assert detect("ticket ka status batao").language == "hi-Latn"


@pytest.mark.parametrize(
    "text", ["urdu la pesa mudiyuma", "india pakistan match yaaru jeichanga", "bus timing sollu tambaram ku",
             "kal milte hain phir", "adhe thaan correct"]
)
def test_romanized_indian_text_is_never_taken_for_a_clear_foreign_language(text):
    detection = detect(text)
    assert detection.language in ("ta-Latn", "hi-Latn", "en") or not detection.reliable


@pytest.mark.parametrize(
    "text, language",
    [
        ("¿cuántos portátiles hay en anna nagar?", "es"),
        ("basmati en anna nagar, ¿cuántas bolsas hay?", "es"),
        ("how many basmati bags at anna nagar?", "en"),
        ("en ticket enna aachu", "ta-Latn"),
        ("kadai la sugar evlo irukku", "ta-Latn"),
    ],
)
def test_store_names_and_shared_short_words_do_not_decide_the_language(text, language):
    assert detect(text).language == language
