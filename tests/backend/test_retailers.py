"""Linking a retailer's chat account with a one-time code: right identity, right code, once, in time."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.db import session_scope
from backend.models import Location, utcnow
from backend.services import catalogue, retailers, stock


@pytest.fixture
def store(database_url: str) -> str:
    with session_scope(database_url) as session:
        catalogue.save_location(session, code="T-NAGAR", name="T. Nagar store", kind="store")
    return database_url


def invite(url: str, address: str = "whatsapp:+919800000001", **kwargs) -> retailers.Invitation:
    with session_scope(url) as session:
        location = session.execute(select(Location)).scalar_one()
        return retailers.invite(session, location=location, display_name="Meena", channel="whatsapp",
                                address=address, actor="admin:test", **kwargs)


class Refused(Exception):
    pass


def redeem(url: str, code: str, address: str = "whatsapp:+919800000001", **kwargs):
    with session_scope(url) as session:
        result = retailers.redeem(session, channel="whatsapp", channel_user_id=address, code=code, **kwargs)
        if result.refused:
            refusal = result.refused
        else:
            user = result.user
            return user.id, user.role, result.location.code, [l.code for l in stock.locations_of(session, user.id)]
    raise Refused(refusal)


def test_the_right_code_from_the_right_identity_links_once(store: str) -> None:
    invitation = invite(store)
    assert len(invitation.code) == 6 and invitation.code.isdigit()
    wrong = f"{(int(invitation.code) + 1) % 10**6:06d}"
    with pytest.raises(Refused):
        redeem(store, wrong)
    with pytest.raises(Refused):
        redeem(store, invitation.code, address="whatsapp:+919800000002")  # someone else's phone
    user_id, role, code, locations = redeem(store, invitation.code)
    assert (role, code, locations) == ("retailer", "T-NAGAR", ["T-NAGAR"])
    with pytest.raises(Refused):
        redeem(store, invitation.code)  # single use


def test_codes_expire_and_lock_after_five_wrong_tries(store: str) -> None:
    old = invite(store, now=utcnow() - timedelta(minutes=31))
    with pytest.raises(Refused) as expired:
        redeem(store, old.code)
    assert expired.value.args[0] == "invalid"
    fresh = invite(store)
    for attempt in range(5):
        with pytest.raises(Refused) as refused:
            redeem(store, "000000" if fresh.code != "000000" else "111111")
    assert refused.value.args[0] == "locked"
    with pytest.raises(Refused):
        redeem(store, fresh.code)  # even the right code, once locked


def test_codes_are_found_in_messages() -> None:
    assert retailers.find_code("my code is 482913") == "482913"
    assert retailers.find_code("link ४८२९१३") == "482913"
    assert retailers.find_code("call 9876543210") is None
    assert retailers.find_code("12345") is None
