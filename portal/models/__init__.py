"""Typed SQLAlchemy models, one module per aggregate. Importing this registers them all."""

from portal.models.accounts import ResetRequest, Role, User
from portal.models.adherence import AdherencePlan, AdherenceWeek
from portal.models.articles import Article, ArticleOldSlug, ArticleStatus
from portal.models.audit import AuditEvent
from portal.models.base import Base, utcnow
from portal.models.booking import (
    MAX_BUSY,
    Appointment,
    AppointmentStatus,
    NotificationClaim,
    Service,
    TimeOff,
    WorkingHours,
)
from portal.models.devices import Device
from portal.models.enquiries import Enquiry, EnquiryReply, EnquiryStatus
from portal.models.erasure import ClientErasure
from portal.models.intake import IntakeForm
from portal.models.library import BODY_AREAS, Exercise, ExerciseLevel, Picture, Sides
from portal.models.messages import Message, MessageThread, ThreadStatus
from portal.models.notes import SessionNote
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.practice import Practice
from portal.models.programmes import (
    MOMENTS,
    CompletionLog,
    Feedback,
    Moment,
    MomentTime,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeTemplate,
    ProgrammeVersion,
    TemplateItem,
)
from portal.models.throttle import LoginThrottle
from portal.models.two_factor import Passkey, RecoveryCode, TwoFactor

__all__ = [
    "MAX_BUSY",
    "AdherencePlan",
    "AdherenceWeek",
    "Appointment",
    "Article",
    "ArticleOldSlug",
    "ArticleStatus",
    "Enquiry",
    "EnquiryReply",
    "EnquiryStatus",
    "AppointmentStatus",
    "IntakeForm",
    "LoginThrottle",
    "Message",
    "MessageThread",
    "ThreadStatus",
    "BODY_AREAS",
    "ClientErasure",
    "CompletionLog",
    "Exercise",
    "ExerciseLevel",
    "Feedback",
    "MOMENTS",
    "Moment",
    "MomentTime",
    "Picture",
    "Programme",
    "ProgrammeItem",
    "ProgrammeShare",
    "ProgrammeTemplate",
    "ProgrammeVersion",
    "Sides",
    "TemplateItem",
    "NotificationClaim",
    "Service",
    "SessionNote",
    "TimeOff",
    "WorkingHours",
    "AuditEvent",
    "Device",
    "Base",
    "OutboxMessage",
    "OutboxStatus",
    "Passkey",
    "Practice",
    "RecoveryCode",
    "TwoFactor",
    "ResetRequest",
    "Role",
    "User",
    "utcnow",
]
