"""`make bench`: how fast the slot engine and the busiest pages are, on this machine.

Runs in-process (Flask test client, a fresh migrated SQLite file, the demo practice plus a
diary of a few hundred extra appointments) and prints the median and 95th percentile per
operation. Numbers are for comparing changes on one machine, not promises about production.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Practice, Service, User  # noqa: E402
from portal.seed import demo  # noqa: E402
from portal.services import booking, slots, two_factor  # noqa: E402


def measure(label: str, action, runs: int) -> None:
    """Run action `runs` times after a warm-up and print median and p95 in milliseconds."""
    for _ in range(min(5, runs)):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<48} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms"
          f"   ({runs} runs)")


def main() -> None:
    """Build the practice, then time each operation."""
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    app = create_app({
        "PORTAL_ENV": "development", "SECRET_KEY": "bench-secret-key-0123456789abcdefgh",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "MAIL_FILE_DIR": str(tmp / "mail"), "RATELIMIT_ENABLED": False,
    })
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        demo.seed(db.session, app.extensions["portal.passwords"],
                  box=app.extensions["portal.secret_box"], now=now, timezone="Europe/London")
        db.session.commit()
        practice = db.session.scalar(select(Practice))
        therapist = db.session.scalar(select(User).where(User.email == demo.THERAPIST[1]))
        service = db.session.scalar(select(Service).order_by(Service.id))
        rules = booking.rules_for(practice)
        first = now.astimezone(rules.zone).date()
        availability = booking.load_availability(db.session, therapist.id, now,
                                                 now + timedelta(weeks=4))
        busy = [(now + timedelta(hours=3 * i), now + timedelta(hours=3 * i, minutes=75))
                for i in range(200)]

        measure("slot engine, 4 weeks, 200 busy intervals", lambda: slots.free_slots(
            rules=rules, hours=availability.hours, time_off=[], busy=busy,
            duration=timedelta(minutes=60), buffer=timedelta(minutes=15), now=now,
            first=first, last=first + timedelta(days=27)), 50)
        measure("free_slots with its queries, 4 weeks", lambda: booking.free_slots(
            db.session, practice, therapist, service, now=now, first=first,
            last=first + timedelta(days=27)), 50)
        service_id = service.id
        client_id = db.session.scalar(select(User.id).where(User.email == demo.CLIENTS[0][1]))
        db.session.rollback()

    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/auth/login", data={"csrf_token": token, "email": demo.CLIENTS[0][1],
                                     "password": demo.CLIENTS[0][2]})
    for label, url in [
        ("GET /auth/login (anonymous)", None),
        ("GET / (client home)", "/"),
        ("GET /booking/<service> (a week of slots)", f"/booking/{service_id}"),
        ("GET /appointments/", "/appointments/"),
    ]:
        if url is None:
            anonymous = app.test_client()
            measure(label, lambda c=anonymous: c.get("/auth/login"), 200)
            continue
        status = client.get(url).status_code
        if status != 200:
            print(f"{label:<48} skipped: answered {status}")
            continue
        measure(label, lambda u=url: client.get(u), 200)

    therapist_pages(app, client_id)


def therapist_pages(app, client_id: int) -> None:
    """The dashboard's pages, signed in as the demo therapist."""
    jo = app.test_client()
    page = jo.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    jo.post("/auth/login", data={"csrf_token": token, "email": demo.THERAPIST[1],
                                 "password": demo.THERAPIST[2]})
    page = jo.get("/auth/two-factor").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    jo.post("/auth/two-factor", data={"csrf_token": token, "code": two_factor.current_code(
        demo.THERAPIST_TOTP_SECRET, datetime.now(UTC))})
    for label, url in [
        ("GET /dashboard/ (therapist home)", "/dashboard/"),
        ("GET /diary/days?view=week", "/diary/days?view=week"),
        ("GET /diary/days?view=month", "/diary/days?view=month"),
        ("GET /clients/?filter=low_adherence", "/clients/?filter=low_adherence"),
        ("GET /clients/<id> (record)", f"/clients/{client_id}"),
        ("GET /clients/<id>/export", f"/clients/{client_id}/export"),
    ]:
        status = jo.get(url).status_code
        if status != 200:
            print(f"{label:<48} skipped: answered {status}")
            continue
        measure(label, lambda u=url: jo.get(u), 100)


if __name__ == "__main__":
    main()
