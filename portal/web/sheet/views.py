"""The programme on paper and beyond the site: a printable sheet with a QR code for a
read-only link, moments as calendar reminders, and the service worker that keeps Today and
the exercise pages working offline.

Who may open what:
- the sheet, the link buttons, the moments page and the service worker: the client, for
  themselves (the blueprint's default);
- /sheet/client/<id> and its link buttons: therapists, for any client;
- /sheet/s/<token> and /sheet/moments/<token>.ics: anyone holding the secret in the address
  (public routes; each shows one client's programme or reminders and nothing else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user

from portal.extensions import db
from portal.models import MOMENTS, Exercise, ProgrammeItem, Role, User
from portal.models.programmes import ANY_TIME_LABEL
from portal.services import (
    accounts,
    calendar,
    dose,
    library,
    moment_feed,
    moment_reminders,
    programme_shares,
    programmes,
)
from portal.services.errors import InvalidInput, NotFound
from portal.web.access import public, restrict, roles
from portal.web.deps import client_ip, now
from portal.web.errors import render_error
from portal.web.forms import apply_error
from portal.web.pictures import Picture, picture_of
from portal.web.qr import qr_svg
from portal.web.sheet.forms import MomentTimesForm

bp = Blueprint("sheet", __name__, url_prefix="/sheet")
restrict(bp, Role.CLIENT)

# What secrets.token_urlsafe(32) makes; anything else is refused before the database.
SHARE_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
FEED_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Only the SHA-256 of a share token is stored, so the QR code can be shown only by the browser
# that made the link: it keeps the token in its (signed, HttpOnly) session, per client.
LINKS_KEY = "sheet_links"
LINKS_KEPT = 10
# The public views add these to the usual security headers: the secret in the address must
# not travel in a Referer header, and search engines must not list the page.
SHARED_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


# --- helpers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """One exercise as printed: what to do, how much, when, and the therapist's note."""

    item: ProgrammeItem
    exercise: Exercise
    dose: str
    schedule: str
    moments: str
    picture: Picture | None
    level: library.LadderStep


def _cards(items: list[ProgrammeItem], *, uploaded_pictures: bool) -> list[Card]:
    cards = []
    for item in items:
        exercise = item.exercise
        # Uploaded pictures are served only to signed-in users: the shared view leaves them
        # out rather than open another route to the token.
        picture = (picture_of(exercise)
                   if uploaded_pictures or exercise.picture_id is None else None)
        cards.append(Card(item=item, exercise=exercise, dose=dose.describe_dose(item),
                          schedule=dose.describe_schedule(item),
                          moments=dose.describe_moments(item.moments or []),
                          picture=picture, level=library.ladder_step(exercise, item.level)))
    return cards


def _glance(items: list[ProgrammeItem]) -> list[tuple[str, list[str]]]:
    """The day at a glance: each moment (then "Any time") with its exercise names."""
    rows = [(m.label, [i.exercise.name for i in items if m in i.moment_list]) for m in MOMENTS]
    rows.append((ANY_TIME_LABEL, [i.exercise.name for i in items if not i.moment_list]))
    return [(label, names) for label, names in rows if names]


def _remembered(client: User) -> str | None:
    links = session.get(LINKS_KEY)
    return links.get(str(client.id)) if isinstance(links, dict) else None


def _remember(client: User, token: str | None) -> None:
    links = dict(session.get(LINKS_KEY) or {})
    links.pop(str(client.id), None)
    if token is not None:
        links[str(client.id)] = token
    session[LINKS_KEY] = dict(list(links.items())[-LINKS_KEPT:])


def _client_or_404(client_id: int) -> User:
    client = db.session.get(User, client_id)
    if client is None or not client.is_client:
        raise NotFound("No such client.")
    return client


def _me() -> User:
    return current_user._get_current_object()


def _sheet(client: User, *, for_therapist: bool):
    """The printable sheet for a client, with the QR code when this browser made the link."""
    version = programmes.current_version(db.session, client)
    live = programme_shares.live_shares(db.session, client)
    token = _remembered(client)
    if token is not None:
        try:
            if programme_shares.resolve_share(db.session, token).id != client.id:
                token = None
        except NotFound:
            token = None
        if token is None:
            _remember(client, None)
    share_url = url_for("sheet.shared", token=token, _external=True) if token else None
    if for_therapist:
        actions = {"create": url_for("sheet.client_create_link", client_id=client.id),
                   "revoke": url_for("sheet.client_revoke_links", client_id=client.id)}
    else:
        actions = {"create": url_for("sheet.create_link"),
                   "revoke": url_for("sheet.revoke_links")}
    items = list(version.items) if version else []
    return render_template(
        "sheet/index.html", client=client, version=version, for_therapist=for_therapist,
        cards=_cards(items, uploaded_pictures=True), glance=_glance(items),
        live_count=len(live), share_url=share_url,
        qr=qr_svg(share_url, title="QR code that opens this programme, read only",
                  css_class="sheet-qr__code") if share_url else None, actions=actions,
    )


def _create(client: User, back: str):
    if not client.active:
        flash(f"{client.name}'s account is deactivated, so a link would not open.", "error")
        return redirect(back)
    token = programme_shares.create_share(db.session, _me(), client, now(), ip=client_ip())
    _remember(client, token)
    flash("The read-only link is ready. Print this page, or let someone scan the code: it "
          "opens this programme and nothing else.", "success")
    return redirect(back + "#share")


def _revoke(client: User, back: str):
    count = programme_shares.revoke_share(db.session, _me(), client, now(), ip=client_ip())
    _remember(client, None)
    if count:
        flash("The link is turned off: old printouts and anyone who has the address now see "
              "nothing." if count == 1 else
              f"{count} links are turned off: old printouts and anyone who has an address now "
              "see nothing.", "success")
    else:
        flash("There was no working link to turn off.", "info")
    return redirect(back + "#share")


def _shared_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=SHARED_HEADERS)


# --- the client's own sheet -----------------------------------------------------------------


@bp.route("/")
def index():
    """The client's programme as a printable sheet, with the read-only link's QR code."""
    return _sheet(_me(), for_therapist=False)


@bp.route("/link", methods=["POST"])
def create_link():
    """Make a read-only link to the client's own programme."""
    return _create(_me(), url_for("sheet.index"))


@bp.route("/link/off", methods=["POST"])
def revoke_links():
    """Turn off every read-only link to the client's own programme."""
    return _revoke(_me(), url_for("sheet.index"))


# --- a therapist printing a client's sheet --------------------------------------------------


@bp.route("/client/<int:client_id>")
@roles(Role.THERAPIST)
def client_sheet(client_id: int):
    """A client's printable sheet, for the therapist to print or share."""
    return _sheet(_client_or_404(client_id), for_therapist=True)


@bp.route("/client/<int:client_id>/link", methods=["POST"])
@roles(Role.THERAPIST)
def client_create_link(client_id: int):
    """Make a read-only link to a client's programme."""
    client = _client_or_404(client_id)
    return _create(client, url_for("sheet.client_sheet", client_id=client.id))


@bp.route("/client/<int:client_id>/link/off", methods=["POST"])
@roles(Role.THERAPIST)
def client_revoke_links(client_id: int):
    """Turn off every read-only link to a client's programme."""
    client = _client_or_404(client_id)
    return _revoke(client, url_for("sheet.client_sheet", client_id=client.id))


# --- the read-only link ---------------------------------------------------------------------


@bp.route("/s/<token>")
@public
def shared(token: str):
    """The programme, read only, for whoever holds the link: no navigation, no forms, no
    links into the site, and no session. The token opens this page and nothing else."""
    client = None
    if SHARE_TOKEN.fullmatch(token):
        try:
            client = programme_shares.resolve_share(db.session, token)
        except NotFound:
            client = None
    if client is None:
        return _shared_response(render_template("sheet/shared_gone.html"), 404)
    version = programmes.current_version(db.session, client)
    items = list(version.items) if version else []
    body = render_template("sheet/shared.html", version=version, glance=_glance(items),
                           cards=_cards(items, uploaded_pictures=False))
    return _shared_response(body)


# --- moments as reminders -------------------------------------------------------------------


@bp.route("/moments", methods=["GET", "POST"])
def moments():
    """Pick a local time for each moment of the day, and subscribe to them as reminders."""
    client = _me()
    plans = moment_feed.moment_plans(db.session, client)
    form = MomentTimesForm(data={
        p.moment.value: p.local_time.strftime("%H:%M") if p.local_time else ""
        for p in plans})
    if form.validate_on_submit():
        try:
            for moment, local_time in form.times().items():
                moment_reminders.set_moment_time(db.session, client, moment, local_time, now(),
                                                 ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            chosen = [t for t in form.times().values() if t is not None]
            flash("Your reminder times are saved. Calendar apps pick up changes the next time "
                  "they check, usually within a few hours." if chosen else
                  "Reminders are off: no moment has a time.", "success")
            return redirect(url_for("sheet.moments"))
    status = 400 if form.errors or form.form_errors else 200
    token = client.calendar_token
    feed_url = url_for("sheet.moments_feed", token=token, _external=True) if token else None
    return render_template("sheet/moments.html", form=form, plans=plans,
                           feed_url=feed_url), status


@bp.route("/moments/feed", methods=["POST"])
def create_feed():
    """Make (or keep) the client's private calendar address, then show the reminders feed."""
    calendar.feed_token(db.session, _me())
    flash("Your reminders address is ready. Add it to your calendar app once.", "success")
    return redirect(url_for("sheet.moments", _anchor="reminders-feed"))


@bp.route("/moments/<token>.ics")
@public
def moments_feed(token: str):
    """The reminders feed: calendar apps fetch it without a session; the token is the key."""
    if not FEED_TOKEN.fullmatch(token):
        return render_error(404)
    try:
        practice = accounts.get_practice(db.session)
    except NotFound:
        return render_error(404)
    client = moment_feed.client_for_token(db.session, token)
    if client is None:
        return render_error(404)
    body = moment_feed.moments_calendar(db.session, client, practice, now(),
                                        programme_url=url_for("programme.index",
                                                              _external=True))
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="stretch-reminders.ics"',
        **SHARED_HEADERS,
    })


# --- offline --------------------------------------------------------------------------------


@bp.route("/sw.js")
def service_worker():
    """The service worker that keeps Today and the exercise pages offline (static/js/sw.js).

    For clients only: they are the ones with a programme to keep, and the browser fetches it
    with their session. Served from here rather than /static/ so it may control /programme/
    (Service-Worker-Allowed), and never from a cache, so an update reaches phones at once.
    """
    script = Path(current_app.static_folder or "static") / "js" / "sw.js"
    return Response(script.read_bytes(), mimetype="application/javascript", headers={
        "Service-Worker-Allowed": url_for("programme.index")})
