"""Pages, flash messages and emails word a session the same way, in the practice's own zone
(read through one accessor), and an unknown stored zone falls back to London everywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import OutboxMessage, Practice
from tests.conftest import form_post, sign_in_directly
from tests.web.test_appointments_web import book_for, text
from tests.web.test_booking_web import NOW, WEDNESDAY_10, set_clock


@pytest.fixture
def signed_in(app, client, diary):
    """The diary's client, signed in with the clock at NOW."""
    set_clock(app, NOW)
    sign_in_directly(client, diary.client)
    return client


def set_zone(app, key: str) -> None:
    """Store a zone key directly, as a hand-edited row or an older zone database would."""
    with app.app_context():
        db.session.execute(sa.update(Practice).values(timezone=key))
        db.session.commit()


def last_subject(app) -> str:
    with app.app_context():
        return db.session.scalars(
            sa.select(OutboxMessage.subject).order_by(OutboxMessage.id.desc())).first()


@pytest.mark.parametrize(("key", "clock", "zone_said"), [
    ("America/New_York", "05:00", "New York"),   # 10:00 UTC is 05:00 EST on 4 March 2026
    ("Not/AZone", "10:00", "London"),            # unknown: Europe/London, the default
])
def test_page_flash_and_email_agree_in_the_practices_zone(app, signed_in, diary, key, clock,
                                                          zone_said):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    set_zone(app, key)
    page = text(signed_in.get("/appointments/"))
    assert f"Wednesday 4 March at {clock}" in page
    booking_page = text(signed_in.get(f"/booking/{diary.services['60 minute massage']}"))
    assert f"All times are {zone_said} time." in booking_page

    form_post(signed_in, f"/appointments/{mine}/cancel", {"reason": ""})
    listed = text(signed_in.get("/appointments/"))
    assert f"Your 60 minute massage on Wednesday 4 March at {clock} is cancelled." in listed
    assert last_subject(app) == f"Cancelled: 60 minute massage on Wednesday 4 March at {clock}"
