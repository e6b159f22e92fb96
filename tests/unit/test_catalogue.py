"""Every response exists in every native language, with the same placeholders and buttons."""
import pytest

from bot.catalogue import check_all, check_catalogue, load_locale, load_source
from bot.languages import NATIVE_LANGUAGES


def test_every_native_catalogue_is_complete():
    problems = check_all()
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("language", [l for l in NATIVE_LANGUAGES if l != "en"])
def test_catalogues_are_translated_not_copied(language):
    source, target = load_source(), load_locale(language)
    same = [k for k in source if source[k][0]["text"] == target[k][0]["text"]]
    assert len(same) <= 2, f"{language} keeps English text for {same}"


def test_the_check_catches_a_missing_key_a_lost_placeholder_and_changed_buttons():
    source = {
        "utter_a": [{"text": "Ref {reference}"}],
        "utter_b": [{"text": "Pick", "buttons": [{"title": "Yes", "payload": "/affirm"}]}],
        "utter_c": [{"text": "Hi"}],
    }
    target = {
        "utter_a": [{"text": "Referencia"}],
        "utter_b": [{"text": "Elige", "buttons": [{"title": "Sí", "payload": "/deny"}]}],
    }
    problems = {(p.key, p.problem.split()[0]) for p in check_catalogue("xx", source, target)}
    assert ("utter_c", "missing") in problems
    assert ("utter_a", "variation") in problems
    assert any(key == "utter_b" for key, _ in problems)
