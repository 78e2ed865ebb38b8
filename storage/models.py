"""The tables. Alembic (storage/migrations) owns the schema; these classes describe it.

Vocabulary: a *dossier* (hồ sơ) is one completed administrative procedure (TTHC) that a
citizen can rate; a *response* is one citizen's pass through one questionnaire; an *answer*
is one question of it. Status values are named constants, never bare strings in logic.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class AnswerStatus(StrEnum):
    ANSWERED = "answered"
    NO_OPINION = "no_opinion"  # "không ý kiến": kept, but out of every denominator
    SKIPPED = "skipped"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up after too many failures; `last_error` says why


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


class Unit(SQLModel, table=True):
    """A responsible unit (department, ward, utility) from the unit catalogue."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(default="so", max_length=16)  # so | xa | dich_vu | khac
    description: str = Field(default="", max_length=1000)
    active: bool = True
    # A ward's people's committee sits under UBND_XA: its code is the ward's gazetteer code.
    parent_code: str | None = Field(default=None, max_length=32)


class Procedure(SQLModel, table=True):
    """An administrative procedure (thủ tục hành chính, TTHC)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=300)
    field_name: str = Field(default="", max_length=120)  # lĩnh vực


class Dossier(SQLModel, table=True):
    """A completed procedure a citizen may rate once per questionnaire."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    procedure_id: int | None = Field(default=None, foreign_key="procedure.id")
    received_at: datetime | None = _ts(nullable=True)
    due_at: datetime | None = _ts(nullable=True)
    completed_at: datetime | None = _ts(nullable=True, index=True)
    created_at: datetime = _ts()


class Citizen(SQLModel, table=True):
    """One channel identity (channel + external id) that gave consent.

    Created only on consent, deleted on request: answers stay, unlinked, as statistics.
    """

    # AUTOINCREMENT (revision 0010_privacy): SQLite would give a deleted citizen's id to the
    # next one, and the audit log would name two people with one id.
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    consent_given_at: datetime | None = _ts(nullable=True)
    consent_text: str | None = Field(default=None, max_length=4000)
    created_at: datetime = _ts()


class QuestionnaireVersion(SQLModel, table=True):
    """A questionnaire as it was when answered: the file's content is kept verbatim."""

    __tablename__ = "questionnaire"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32)
    version: str = Field(max_length=32)
    title: str = Field(max_length=300)
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class SurveyResponse(SQLModel, table=True):
    """One pass through one questionnaire; unit and procedure are copied from the dossier."""

    __tablename__ = "survey_response"
    __table_args__ = (
        # One response per dossier and questionnaire; NULL dossiers (general surveys) repeat.
        UniqueConstraint("dossier_id", "questionnaire_code"),
        Index("ix_survey_response_started_unit", "started_at", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id")
    questionnaire_code: str = Field(max_length=32)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id", index=True)
    # The dossier this response rated: set when its first answer (the rating) is stored, not
    # when the survey starts, so that a survey opened and abandoned blocks no one.
    dossier_id: int | None = Field(default=None, foreign_key="dossier.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    procedure_id: int | None = Field(default=None, foreign_key="procedure.id", index=True)
    channel: str = Field(max_length=16)
    status: str = Field(default=ResponseStatus.IN_PROGRESS, max_length=16)
    started_at: datetime = _ts()
    completed_at: datetime | None = _ts(nullable=True)


class Answer(SQLModel, table=True):
    """One question's answer. The latest answer to a question replaces the earlier one.

    `satisfied` is fixed when the answer is stored, from the questionnaire's scale, so that
    reports are plain SQL sums; `element_code` is copied for the same reason.
    """

    __table_args__ = (
        UniqueConstraint("response_id", "question_code"),
        Index("ix_answer_question", "question_code", "response_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="survey_response.id")
    question_code: str = Field(max_length=32)
    element_code: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16)
    score: int | None = None
    choice: str | None = Field(default=None, max_length=400)  # multi: "|a|b|"
    text: str | None = Field(default=None, max_length=4000)
    satisfied: bool | None = None
    answered_at: datetime = _ts()


class ConversationState(SQLModel, table=True):
    """The engine's state for one chat, with a version for optimistic locking."""

    __tablename__ = "conversation_state"

    channel: str = Field(max_length=16, primary_key=True)
    external_id: str = Field(max_length=64, primary_key=True)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = 0
    updated_at: datetime = _ts()


class OutboxMessage(SQLModel, table=True):
    """A reply waiting for delivery, written in the same transaction as the state change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        # The sender's claim walks a channel's pending messages in id order (revision 0003).
        Index(
            "ix_outbox_claim",
            "channel",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # Sent and erased messages are deleted; their ids, in the sender's log, stay unique.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=64, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    last_error: str | None = Field(default=None, max_length=1000)
    platform_message_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    # A sender worker's claim on the message (revision 0002): while `leased_until` is in the
    # future no other worker touches this chat's messages; a crashed worker's lease expires.
    lease_owner: str | None = Field(default=None, max_length=64)
    leased_until: datetime | None = _ts(nullable=True)
    # The first failed attempt (revision 0007_sender): transient failures are retried until
    # OUTBOX_RETRY_FOR_HOURS after it, whatever the number of attempts.
    first_failed_at: datetime | None = _ts(nullable=True)


class InboundMessage(SQLModel, table=True):
    """An inbound message id already processed: a redelivery changes nothing."""

    __tablename__ = "inbound_message"

    channel: str = Field(max_length=16, primary_key=True)
    message_id: str = Field(max_length=64, primary_key=True)
    received_at: datetime = _ts()


class AuditLog(SQLModel, table=True):
    """Who did what, when: consent, deletion, admin actions."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    subject: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ChatContact(SQLModel, table=True):
    """When a chat last wrote to us, and whether it still follows the account.

    Zalo's free-reply window counts from `last_inbound_at`; nothing personal is kept here.
    """

    __tablename__ = "chat_contact"

    channel: str = Field(max_length=16, primary_key=True)
    external_id: str = Field(max_length=64, primary_key=True)
    last_inbound_at: datetime = _ts()
    following: bool = True
    updated_at: datetime = _ts()


class ChannelToken(SQLModel, table=True):
    """A platform's OAuth token pair (Zalo OA). Refresh tokens are single-use: the new pair
    replaces the old one in one transaction, before the new access token is used."""

    __tablename__ = "channel_token"

    name: str = Field(max_length=64, primary_key=True)  # e.g. "zalo:<app id>"
    access_token: str = Field(max_length=2000)
    refresh_token: str = Field(max_length=2000)
    expires_at: datetime | None = _ts(nullable=True)
    version: int = 0
    updated_at: datetime = _ts()


class ChatAttachment(SQLModel, table=True):
    """A reference (URL) to a file a consenting citizen sent, kept for the complaint flow."""

    __tablename__ = "chat_attachment"
    __table_args__ = (Index("ix_chat_attachment_chat", "channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # image, file, ...
    url: str = Field(max_length=2000)
    thumbnail_url: str | None = Field(default=None, max_length=2000)
    received_at: datetime = _ts()


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model: typed columns for SQL built by hand (reports, upserts)."""
    return model.__table__  # type: ignore[attr-defined]


# --- complaints (phản ánh, kiến nghị) -------------------------------------------------------
# The rules are in complaints/lifecycle.py; these tables keep a complaint, its history (every
# change is a row: who, when, from and to), the unit staff, the Telegram groups linked to
# units, and the examples the router learns from.


_OPEN_SQL = "status IN ('triage', 'routed', 'accepted', 'info_requested', 'reopened')"


class Complaint(SQLModel, table=True):
    """One citizen complaint (or, when `anonymous`, feedback kept and counted, not handled).

    `text` is what the citizen wrote (personal data included, for the handling unit); the
    cards and every report show `masked_text`. The chat (`channel`, `external_id`), contact
    details, photos and location are erased when the citizen asks (`/xoa`); the complaint
    itself stays for the unit's record, its text masked.
    """

    __table_args__ = (
        UniqueConstraint("year", "seq"),
        # The scheduler reads only what is due (`next_check_at` is NULL once closed).
        Index("ix_complaint_next_check", "next_check_at"),
        Index("ix_complaint_unit_status", "unit_id", "status"),
        Index("ix_complaint_unit_due", "unit_id", "due_at", "id"),  # the console's inbox
        # The inbox's overdue filter: open ones by due date, without walking the closed ones
        # (revision 0015). PostgreSQL reads it; SQLite has it too but does not match its IN
        # list to bound parameters, so it keeps ix_complaint_unit_due.
        Index(
            "ix_complaint_unit_open_due",
            "unit_id",
            "due_at",
            "id",
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        # The inbox's pages: its offset skipped on the index alone (revision 0015).
        Index(
            "ix_complaint_unit_due_coded",
            "unit_id",
            "due_at",
            "id",
            sqlite_where=text("code IS NOT NULL"),
            postgresql_where=text("code IS NOT NULL"),
        ),
        # The inbox's text search (LIKE '%…%' on the lowered masked text): trigrams, on
        # PostgreSQL only (revision 0015); SQLite scans.
        Index(
            "ix_complaint_text_trgm",
            text("lower(masked_text) gin_trgm_ops"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        # Decision 766's complaint condition looks up each dossier's complaints (EXISTS): without
        # it every dossier scanned the complaint table (558 of 916 ms of a demo report).
        Index("ix_complaint_dossier", "dossier_id"),
        Index("ix_complaint_chat", "channel", "external_id"),
        # The inbox's «Giao cho tôi» (assigned to me) filter, soonest due first (revision 0016).
        Index("ix_complaint_unit_assignee", "unit_id", "assignee_id", "due_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # the conversation's draft key: idempotent
    code: str | None = Field(default=None, max_length=20, unique=True)  # PA-YYYY-NNNNNN
    year: int | None = None
    seq: int | None = None
    status: str = Field(max_length=20, index=True)
    track: str = Field(default="pakn", max_length=16)
    anonymous: bool = False
    origin: str = Field(default="chat", max_length=20)  # chat | dossier_reason | demo
    unit_id: int = Field(foreign_key="unit.id")
    # A staff member of the holding unit a lead gave it to (revision 0016); a transfer clears
    # it (complaints.lifecycle).
    assignee_id: int | None = Field(default=None, foreign_key="staff.id")
    units_involved: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    predicted_unit: str | None = Field(default=None, max_length=32)
    confidence: float | None = None
    candidates: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    routed_automatically: bool = True
    ward_code: str | None = Field(default=None, max_length=64, index=True)
    ward_name: str | None = Field(default=None, max_length=120)
    dossier_id: int | None = Field(default=None, foreign_key="dossier.id")
    text: str = Field(sa_type=Text)
    masked_text: str = Field(sa_type=Text)
    answer_text: str | None = Field(default=None, sa_type=Text)
    # Personal data: erased on a deletion request.
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id", index=True)
    channel: str | None = Field(default=None, max_length=16)
    external_id: str | None = Field(default=None, max_length=64)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=32)
    latitude: float | None = None
    longitude: float | None = None
    photos: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Times and flags of the lifecycle.
    received_at: datetime = _ts(index=True)
    due_at: datetime = _ts()
    accepted_at: datetime | None = _ts(nullable=True)
    answered_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    rated_at: datetime | None = _ts(nullable=True)
    satisfied: bool | None = None
    reopened: int = 0
    transfers: int = 0
    reminded: bool = False
    escalated: bool = False
    triage_alarmed: bool = False
    next_check_at: datetime | None = _ts(nullable=True)
    version: int = 0
    updated_at: datetime = _ts()


class ComplaintEvent(SQLModel, table=True):
    """One change of a complaint: who, when, the old and new state and unit, the text shown."""

    __tablename__ = "complaint_event"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    at: datetime = _ts()
    action: str = Field(max_length=20)
    actor_kind: str = Field(max_length=10)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    actor_name: str = Field(default="", max_length=200)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    from_unit: str | None = Field(default=None, max_length=32)
    to_unit: str = Field(max_length=32)
    note: str = Field(default="", sa_type=Text)


class ComplaintSequence(SQLModel, table=True):
    """The last tracking number of each year: a row lock makes numbers gapless."""

    __tablename__ = "complaint_sequence"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class Staff(SQLModel, table=True):
    """A unit's staff member (Telegram user; the web console's accounts share this table)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    role: str = Field(default="staff", max_length=16)  # staff | lead | analyst | admin
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    email: str | None = Field(default=None, max_length=200, unique=True)
    password_hash: str | None = Field(default=None, max_length=400)
    active: bool = True
    created_at: datetime = _ts()
    # Console sessions issued before this are refused (revision 0016): set on deactivation,
    # reactivation, a role, unit or password change and «sign out everywhere».
    sessions_valid_after: datetime | None = _ts(nullable=True)


class UnitGroup(SQLModel, table=True):
    """A Telegram group linked to a unit (`/lienket CODE`): the unit's cards go there."""

    __tablename__ = "unit_group"

    chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    unit_id: int = Field(foreign_key="unit.id", index=True)
    title: str = Field(default="", max_length=200)
    linked_by: int | None = Field(default=None, sa_type=BigInteger)
    linked_at: datetime = _ts()


class LinkCode(SQLModel, table=True):
    """A one-time code that links a Telegram group to a unit; only its hash is kept."""

    __tablename__ = "link_code"

    code_hash: str = Field(max_length=64, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)
    used_by_chat: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _ts()


class StaffPrompt(SQLModel, table=True):
    """A staff member's pending text input (an answer, a reason, a question) in a group."""

    __tablename__ = "staff_prompt"

    chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    user_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    complaint_id: int = Field(foreign_key="complaint.id")
    action: str = Field(max_length=20)
    argument: str = Field(default="", max_length=64)  # e.g. the unit of a transfer
    created_at: datetime = _ts()


class RoutingExample(SQLModel, table=True):
    """A labelled example for the router: a complaint's masked text, the unit the router
    predicted and the unit that took it (on each transfer and on the answer)."""

    __tablename__ = "routing_example"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    at: datetime = _ts(index=True)
    masked_text: str = Field(sa_type=Text)
    predicted_unit: str | None = Field(default=None, max_length=32)
    final_unit: str = Field(max_length=32)
    reason: str = Field(max_length=16)  # transfer | answered


class ConsentRecord(SQLModel, table=True):
    """Consent per purpose (e.g. contact details shown to the handling unit), with proof."""

    __tablename__ = "consent_record"
    __table_args__ = ({"sqlite_autoincrement": True},)  # deleted on `/xoa`: ids not reused

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    purpose: str = Field(max_length=32)
    text_shown: str = Field(sa_type=Text)
    given: bool = True
    at: datetime = _ts()


class Upload(SQLModel, table=True):
    """A photo a citizen uploaded in the web chat for a complaint. Kept in the database, so
    any worker can hand it to a unit; a complaint refers to it as ("upload", key); erased with
    the citizen's other data on `/xoa`."""

    key: str = Field(max_length=64, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    content_type: str = Field(max_length=32)
    size: int
    data: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


class ComplaintCard(SQLModel, table=True):
    """Where a complaint's card is in a Telegram group (learnt when it is delivered, or when
    a button on it is pressed), so later changes edit it in place and replies go under it."""

    __tablename__ = "complaint_card"

    complaint_id: int = Field(foreign_key="complaint.id", primary_key=True)
    chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    message_id: int = Field(sa_type=BigInteger)
    updated_at: datetime = _ts()


class ComplaintPhotoMessage(SQLModel, table=True):
    """A photo of a complaint sent to a unit's Telegram group as a message of its own
    (revision 0019): a deletion request deletes it there."""

    __tablename__ = "complaint_photo_message"

    complaint_id: int = Field(foreign_key="complaint.id", primary_key=True)
    chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    message_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    created_at: datetime = _ts()


class ReportClose(SQLModel, table=True):
    """A month's satisfaction figures as they were when an analyst closed the month.

    Later answers (a late «Không hài lòng», a late dossier) do not change what was signed: a
    report of a closed month shows these figures and, separately, what changed since. A
    reopened close keeps its row (reopened_at set); at most one close per month is in force.
    """

    __tablename__ = "report_close"
    __table_args__ = (
        Index(
            "ux_report_close_in_force",
            "questionnaire",
            "month",
            unique=True,
            sqlite_where=text("reopened_at IS NULL"),
            postgresql_where=text("reopened_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    questionnaire: str = Field(max_length=32)
    month: str = Field(max_length=7)  # YYYY-MM, in REPORT_TIMEZONE's calendar
    timezone: str = Field(max_length=64)
    closed_at: datetime = _ts()
    closed_by: str = Field(max_length=100)
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # Report.to_dict()
    reopened_at: datetime | None = _ts(nullable=True)
    reopened_by: str | None = Field(default=None, max_length=100)


class StaffInvitation(SQLModel, table=True):
    """A one-time link with which an invited staff member sets their console password; only
    the token's hash is kept (console/admin.py)."""

    __tablename__ = "staff_invitation"

    token_hash: str = Field(max_length=64, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = _ts()


# --- The dashboard's rollup (reports/rollup.py) -------------------------------------------------
# The report's own counts, grouped by unit, procedure and local day ('d') or month ('m'),
# rebuilt in the background from the same statements, so that a dashboard over millions of
# answers sums a few thousand rows. Counts only: no personal data, no text.


class RollupAnswer(SQLModel, table=True):
    """`reports.queries.answer_counts` rows (statements of every questionnaire, the ratings)."""

    __tablename__ = "rollup_answer"
    __table_args__ = (Index("ix_rollup_answer_bucket", "grain", "bucket"),)

    id: int | None = Field(default=None, primary_key=True)
    grain: str = Field(max_length=1)  # d | m
    bucket: str = Field(max_length=10)  # 2026-03-05 | 2026-03, local to the rollup's zone
    unit_id: int | None = None
    procedure_id: int | None = None
    version_id: int
    element_code: str | None = Field(default=None, max_length=32)
    question_code: str = Field(max_length=32)
    level: str | None = Field(default=None, max_length=400)
    n: int = Field(sa_type=BigInteger)
    n_valid: int = Field(sa_type=BigInteger)
    n_satisfied: int = Field(sa_type=BigInteger)


class RollupRespondent(SQLModel, table=True):
    """`respondent_counts` rows, one per element ('' = any element, with `complete`)."""

    __tablename__ = "rollup_respondent"
    __table_args__ = (Index("ix_rollup_respondent_bucket", "grain", "bucket"),)

    id: int | None = Field(default=None, primary_key=True)
    grain: str = Field(max_length=1)
    bucket: str = Field(max_length=10)
    unit_id: int | None = None
    procedure_id: int | None = None
    questionnaire_code: str = Field(max_length=32)
    element_code: str = Field(max_length=32)
    respondents: int = Field(sa_type=BigInteger)
    complete: int = Field(sa_type=BigInteger)


class RollupResponse(SQLModel, table=True):
    """Responses started, whatever became of them (`response_total`)."""

    __tablename__ = "rollup_response"
    __table_args__ = (Index("ix_rollup_response_bucket", "grain", "bucket"),)

    id: int | None = Field(default=None, primary_key=True)
    grain: str = Field(max_length=1)
    bucket: str = Field(max_length=10)
    questionnaire_code: str = Field(max_length=32)
    responses: int = Field(sa_type=BigInteger)


class RollupDossier(SQLModel, table=True):
    """`ratio_766_counts` rows by completion day or month."""

    __tablename__ = "rollup_dossier"
    __table_args__ = (Index("ix_rollup_dossier_bucket", "grain", "bucket"),)

    id: int | None = Field(default=None, primary_key=True)
    grain: str = Field(max_length=1)
    bucket: str = Field(max_length=10)
    unit_id: int | None = None
    dossiers: int = Field(sa_type=BigInteger)
    rated_bad: int = Field(sa_type=BigInteger)
    late: int = Field(sa_type=BigInteger)
    excluded: int = Field(sa_type=BigInteger)


class RollupState(SQLModel, table=True):
    """The rollup's one row: what it was built with (`signature`: zone, rating question, 766
    rules), when, and the lease of the process rebuilding it."""

    __tablename__ = "rollup_state"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    signature: str = Field(default="", sa_type=Text)
    built_at: datetime | None = _ts(nullable=True)  # the last rebuild, full or recent days
    full_at: datetime | None = _ts(nullable=True)  # the last full rebuild
    units: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = _ts(nullable=True)
