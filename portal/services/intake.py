"""The health questionnaire and consent a client completes before their first booking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import IntakeForm, User
from portal.services import audit
from portal.services.errors import InvalidInput, PermissionDenied

# A new version whenever the meaning changes: clients are asked to read and agree again.
# 2026-12: deleting an account no longer deletes health records at once (they are kept for
# the practice's retention period, then purged), so "delete it at any time" stopped being true.
CONSENT_VERSION = "2026-12"
CONSENT_TEXT = (
    "I agree that the practice may keep the health information I give here, and notes from "
    "my sessions, to plan and give me safe treatment. Only my therapist can see it. It is "
    "never shared without my permission, except where the law requires. I can see it, "
    "download it and ask for it to be corrected at any time. If I delete my account, my "
    "sign-in and contact details are erased straight away; my health records are kept for "
    "the time the practice must keep them, and then deleted. I can withdraw this consent by "
    "contacting the practice."
)


@dataclass(frozen=True)
class RedFlag:
    """A screening question; "yes" means the therapist should check before treating."""

    key: str
    question: str


RED_FLAGS = [
    RedFlag("unexplained_weight_loss", "Have you lost weight recently without trying?"),
    RedFlag("night_pain", "Do you have pain that is worse at night or doesn't ease with rest?"),
    RedFlag("numbness", "Do you have numbness, pins and needles or weakness in your arms, "
                        "legs or around the groin or buttocks?"),
    RedFlag("bladder_bowel", "Have you noticed any recent change in bladder or bowel control?"),
    RedFlag("fever", "Do you currently have a fever, an infection or feel generally unwell?"),
    RedFlag("blood_clot", "Have you ever had a blood clot (DVT) or are you taking blood "
                          "thinners?"),
    RedFlag("recent_injury", "Have you had a fall, accident, surgery or fracture in the last "
                             "three months?"),
    RedFlag("cancer", "Are you being treated for, or have you had, cancer?"),
    RedFlag("pregnant", "Are you pregnant?"),
    RedFlag("heart", "Do you have a heart condition or high blood pressure that is not "
                     "controlled?"),
]

TEXT_FIELDS = {
    "phone": 40, "emergency_contact": 200, "gp_details": 300, "complaints": 2000,
    "conditions": 2000, "medication": 1000, "activity": 1000, "red_flag_details": 2000,
}


def current(session: Session, client: User) -> IntakeForm | None:
    """The newest questionnaire the client submitted."""
    return session.scalar(
        select(IntakeForm).where(IntakeForm.client_id == client.id)
        .order_by(IntakeForm.submitted_at.desc(), IntakeForm.id.desc()).limit(1)
    )


def history(session: Session, client: User) -> list[IntakeForm]:
    """Every submission, newest first."""
    return list(session.scalars(
        select(IntakeForm).where(IntakeForm.client_id == client.id)
        .order_by(IntakeForm.submitted_at.desc(), IntakeForm.id.desc())
    ))


def is_complete(session: Session, client: User) -> bool:
    """True when the client has answered and consented to the current consent text."""
    latest = current(session, client)
    return latest is not None and latest.consent_version == CONSENT_VERSION


def submit(
    session: Session, actor: User, client: User, *, answers: dict[str, str],
    red_flags: dict[str, bool], consent: bool, now: datetime, ip: str | None = None,
) -> IntakeForm:
    """Store a new version of the questionnaire; older versions are kept as history."""
    if actor.id != client.id:
        raise PermissionDenied("Only the client can fill in their own questionnaire.")
    if not consent:
        raise InvalidInput("consent", "We need your consent to keep health information "
                                      "before you can book.")
    clean: dict[str, str] = {}
    for key, limit in TEXT_FIELDS.items():
        value = (answers.get(key) or "").strip()
        if len(value) > limit:
            raise InvalidInput(key, f"Use at most {limit} characters.")
        clean[key] = value
    if not clean["complaints"]:
        raise InvalidInput("complaints", "Tell us briefly what you'd like help with.")
    flagged = [flag.key for flag in RED_FLAGS if red_flags.get(flag.key)]
    if flagged and not clean["red_flag_details"]:
        raise InvalidInput("red_flag_details",
                           "You answered yes above: please add a few words so your therapist "
                           "can prepare.")
    form = IntakeForm(client_id=client.id, submitted_at=now, answers=clean, red_flags=flagged,
                      consent_version=CONSENT_VERSION, consent_given_at=now)
    session.add(form)
    session.flush()
    audit.record(session, actor=actor, subject=client, action="intake.submitted", now=now,
                 ip=ip, version=CONSENT_VERSION, red_flags=len(flagged))
    return form
