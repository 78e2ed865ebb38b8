"""The complaint lifecycle (phản ánh, kiến nghị — PAKN): pure rules, no I/O, no clock.

`apply(complaint, event, actor, now, policy) → Change` is the one place that decides whether an
action is allowed and what it does: Telegram cards, the web console, the citizen's chat and the
scheduler all go through it, so the faces cannot disagree. A refused action raises `Refused`
with a reason code, and nothing changes.

    submit ──▶ ROUTED ─────accept─────▶ ACCEPTED ──request info──▶ INFO_REQUESTED
       │         ▲  │                    │  ▲  │                     │ provide info
       ▼         │  └─transfer─┐         │  └──┼─────────────────────┘
    TRIAGE ──transfer──▶ ROUTED (another unit, due date → 15 days)   │
                                         ▼     ▼
              REJECTED ◀──reject── (open, at a unit) ──answer──▶ ANSWERED ──rate──▶ RATED
                                                                   │  ▲
                                                   reopen (≤7 days)▼  │answer
                                                                  REOPENED

States fall into groups (`OPEN`, `CLOSED`); code and reports ask for the group, never a list of
labels copied around. Anonymous text (no contact details) is kept as FEEDBACK: counted, never
handled (Decree 20/2008 accepts no anonymous PAKN).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class Status(StrEnum):
    TRIAGE = "triage"  # at the triage desk: the router was unsure
    ROUTED = "routed"  # at a unit, not yet accepted
    ACCEPTED = "accepted"
    INFO_REQUESTED = "info_requested"  # the unit asked the citizen for more
    REOPENED = "reopened"  # the citizen reopened an answered complaint
    ANSWERED = "answered"  # closed with an answer; the citizen may rate or reopen
    RATED = "rated"  # answered and rated by the citizen
    REJECTED = "rejected"  # out of scope, with guidance for the citizen
    FEEDBACK = "feedback"  # anonymous text, kept and counted, not handled


OPEN: frozenset[Status] = frozenset(
    {Status.TRIAGE, Status.ROUTED, Status.ACCEPTED, Status.INFO_REQUESTED, Status.REOPENED}
)
ANSWERED_GROUP: frozenset[Status] = frozenset({Status.ANSWERED, Status.RATED})
CLOSED: frozenset[Status] = frozenset({Status.ANSWERED, Status.RATED, Status.REJECTED})


def open_states() -> frozenset[Status]:
    """States in which a unit still owes the citizen an answer."""
    return OPEN


def closed_states() -> frozenset[Status]:
    return CLOSED


class Track(StrEnum):
    PAKN = "pakn"  # phản ánh, kiến nghị (Decree 20/2008)
    KHIEU_NAI = "khieu_nai"  # formal complaint or denunciation: the Inspectorate's track


class ActorKind(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"
    SYSTEM = "system"


class Role(StrEnum):
    STAFF = "staff"
    LEAD = "lead"
    ANALYST = "analyst"
    ADMIN = "admin"


class Audience(StrEnum):
    CITIZEN = "citizen"  # the chat the complaint came from
    UNIT = "unit"  # the holding unit's linked group(s)
    LEADS = "leads"  # the holding unit's leads
    MONITOR = "monitor"  # the city's monitoring group


class Refusal(StrEnum):
    NOT_STAFF = "not_staff"
    WRONG_UNIT = "wrong_unit"  # staff of another unit
    WRONG_GROUP = "wrong_group"  # from a group not linked to the holding unit
    INACTIVE = "inactive"  # a staff member removed from the unit
    NOT_OWNER = "not_owner"  # a citizen acting on someone else's complaint
    STATE = "state"  # not allowed in the complaint's current state (e.g. an old card)
    TOO_LATE = "too_late"  # reopening after the window
    EMPTY = "empty"  # an answer, reason or question with no text
    SAME_UNIT = "same_unit"  # transfer to the unit that holds it
    UNKNOWN_UNIT = "unknown_unit"
    NOT_LEAD = "not_lead"  # assigning is the unit lead's (or an admin's)
    BAD_ASSIGNEE = "bad_assignee"  # not an active staff member of the holding unit


class Refused(Exception):
    """The action is not allowed; nothing changes. `reason` says why, for the actor."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Actor:
    """Who acts. Staff carry their unit and the unit of the group they acted from
    (`via_unit`, None when the face has no group, e.g. the web console)."""

    kind: ActorKind
    id: str = ""
    name: str = ""
    unit: str | None = None
    role: Role = Role.STAFF
    active: bool = True
    via_unit: str | None = None
    via_group: bool = False  # True: the action came from a chat group (`via_unit` must match)

    @property
    def label(self) -> str:
        return self.name or self.id or self.kind.value


CITIZEN = Actor(ActorKind.CITIZEN, id="citizen")
SYSTEM = Actor(ActorKind.SYSTEM, id="system")


@dataclass(frozen=True)
class Complaint:
    """A complaint as the rules see it; storage keeps these fields (and more)."""

    status: Status
    unit: str
    track: Track
    received_at: datetime
    due_at: datetime
    code: str | None = None
    anonymous: bool = False
    units_involved: tuple[str, ...] = ()  # every unit that has held it, in order
    predicted_unit: str | None = None
    accepted_at: datetime | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    transfers: int = 0
    satisfied: bool | None = None
    reminded: bool = False  # the due-date reminder went out (for the current due date)
    escalated: bool = False  # the overdue escalation went out (for the current due date)
    triage_alarmed: bool = False  # the 1-hour triage alarm went out
    assignee: str | None = None  # the staff member of the holding unit it was given to (id)


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accept:
    pass


@dataclass(frozen=True)
class Transfer:
    to_unit: str
    reason: str


@dataclass(frozen=True)
class RequestInfo:
    question: str


@dataclass(frozen=True)
class ProvideInfo:
    text: str


@dataclass(frozen=True)
class Answer:
    text: str


@dataclass(frozen=True)
class Reject:
    guidance: str


@dataclass(frozen=True)
class Rate:
    satisfied: bool
    reason: str = ""


@dataclass(frozen=True)
class Reopen:
    reason: str = ""


@dataclass(frozen=True)
class Remind:
    """System: the due date is near (`Policy.remind_before`)."""


@dataclass(frozen=True)
class Escalate:
    """System: the due date has passed."""


@dataclass(frozen=True)
class TriageAlarm:
    """System: the triage desk has held it longer than `Policy.triage_alarm_after`."""


Event = (
    Accept
    | Transfer
    | RequestInfo
    | ProvideInfo
    | Answer
    | Reject
    | Rate
    | Reopen
    | Remind
    | Escalate
    | TriageAlarm
)

# The action name of each event, as written in the history and the audit log.
ACTIONS: dict[type[Any], str] = {
    Accept: "accept",
    Transfer: "transfer",
    RequestInfo: "request_info",
    ProvideInfo: "provide_info",
    Answer: "answer",
    Reject: "reject",
    Rate: "rate",
    Reopen: "reopen",
    Remind: "remind",
    Escalate: "escalate",
    TriageAlarm: "triage_alarm",
}
TEXT_MAX = 4000


# --- policy: deadlines ----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Deadlines and windows (HCMC 1022 rules by default; settings override them)."""

    due_days: int = 10
    due_days_multi: int = 15  # transferred, or several units involved
    working_days: bool = False  # count Monday-Friday except public holidays
    holidays: frozenset[date] = frozenset()
    reopen_days: int = 7
    remind_before: timedelta = timedelta(days=2)
    triage_alarm_after: timedelta = timedelta(hours=1)
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))

    def due(self, start: datetime, multi: bool) -> datetime:
        """End of the last local day of the period that starts the day after `start`."""
        days = self.due_days_multi if multi else self.due_days
        day = start.astimezone(self.tz).date()
        if self.working_days:
            left = days
            while left:
                day += timedelta(days=1)
                if day.weekday() < 5 and day not in self.holidays:
                    left -= 1
        else:
            day += timedelta(days=days)
        end = datetime.combine(day, time(23, 59, 59), tzinfo=self.tz)
        return end.astimezone(start.tzinfo)


# --- what a change produces ------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """Something to tell someone; the channel renders `kind` with the message catalogue."""

    audience: Audience
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the complaint's history: the history is data, the state follows from it."""

    action: str
    actor: Actor
    at: datetime
    from_status: Status | None
    to_status: Status
    from_unit: str | None
    to_unit: str
    note: str = ""


@dataclass(frozen=True)
class LearnExample:
    """A labelled routing example for the router: what it predicted and where it ended."""

    predicted_unit: str | None
    final_unit: str
    reason: str  # "transfer" or "answered"


@dataclass(frozen=True)
class Change:
    complaint: Complaint
    history: HistoryEntry
    notices: list[Notice]
    learn: list[LearnExample] = field(default_factory=list)
    card_changed: bool = True  # the unit's card must show the new state


# --- intake --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Where the router (or a rule) sent a new complaint."""

    unit: str
    confidence: float
    predicted_unit: str
    triage: bool
    track: Track = Track.PAKN


def submit(
    routing: Routing, now: datetime, policy: Policy, *, anonymous: bool = False
) -> tuple[Complaint, HistoryEntry, list[Notice]]:
    """A new complaint from a citizen: routed to a unit, the triage desk or (anonymous) kept
    as feedback. The citizen is told the code, the unit and the due date."""
    status = Status.TRIAGE if routing.triage else Status.ROUTED
    if anonymous:
        status = Status.FEEDBACK
    complaint = Complaint(
        status=status,
        unit=routing.unit,
        track=routing.track,
        received_at=now,
        due_at=policy.due(now, multi=False),
        anonymous=anonymous,
        units_involved=(routing.unit,),
        predicted_unit=routing.predicted_unit,
    )
    history = HistoryEntry("submit", CITIZEN, now, None, status, None, routing.unit)
    if anonymous:
        return complaint, history, [Notice(Audience.CITIZEN, "feedback_kept")]
    notices = [
        Notice(
            Audience.CITIZEN,
            "received_khieu_nai" if routing.track is Track.KHIEU_NAI else "received",
            {"triage": routing.triage},
        ),
        Notice(Audience.UNIT, "card"),
    ]
    return complaint, history, notices


# --- transitions ----------------------------------------------------------------------------


def check(complaint: Complaint, action: str, actor: Actor) -> None:
    """Raise `Refused` unless `actor` may start `action` now (e.g. before asking a staff member
    for the answer's text): the same checks as `apply`, without the event's content."""
    if complaint.status is Status.FEEDBACK:
        raise Refused(Refusal.STATE, "anonymous feedback is not handled")
    if actor.kind is ActorKind.STAFF:
        check_staff(complaint, actor)
    elif action not in _OWN_ACTIONS[actor.kind]:
        raise Refused(Refusal.NOT_STAFF)
    if actor.kind is not ActorKind.CITIZEN and action in _CITIZEN_ACTIONS:
        raise Refused(Refusal.NOT_OWNER, "only the citizen who sent it")
    if actor.kind is not ActorKind.SYSTEM and action in _SYSTEM_ACTIONS:
        raise Refused(Refusal.NOT_STAFF, "the scheduler's own events")
    if complaint.status not in _ALLOWED[action]:
        raise Refused(Refusal.STATE, f"{action} in {complaint.status.value}")


def apply(
    complaint: Complaint, event: Event, actor: Actor, now: datetime, policy: Policy
) -> Change:
    """The one rule book: what `actor` doing `event` to `complaint` at `now` changes."""
    check(complaint, ACTIONS[type(event)], actor)
    handler = _HANDLERS[type(event)]
    return handler(complaint, event, actor, now, policy)


_CITIZEN_ACTIONS = frozenset({"provide_info", "rate", "reopen"})
_SYSTEM_ACTIONS = frozenset({"remind", "escalate", "triage_alarm"})
_OWN_ACTIONS = {ActorKind.CITIZEN: _CITIZEN_ACTIONS, ActorKind.SYSTEM: _SYSTEM_ACTIONS}
_ALLOWED: dict[str, frozenset[Status]] = {
    "accept": frozenset({Status.ROUTED, Status.REOPENED}),
    "transfer": frozenset({Status.TRIAGE, Status.ROUTED, Status.ACCEPTED, Status.REOPENED}),
    "request_info": frozenset({Status.ACCEPTED, Status.REOPENED}),
    "provide_info": frozenset({Status.INFO_REQUESTED}),
    "answer": frozenset({Status.ROUTED, Status.ACCEPTED, Status.INFO_REQUESTED, Status.REOPENED}),
    "reject": frozenset(
        {Status.TRIAGE, Status.ROUTED, Status.ACCEPTED, Status.INFO_REQUESTED, Status.REOPENED}
    ),
    "rate": frozenset({Status.ANSWERED}),
    "reopen": frozenset({Status.ANSWERED, Status.RATED}),
    "remind": OPEN - {Status.TRIAGE},
    "escalate": OPEN,
    "triage_alarm": frozenset({Status.TRIAGE}),
}


def allowed_actions(status: Status) -> frozenset[str]:
    """The actions the rules allow in `status` (the buttons a card shows)."""
    return frozenset(a for a, states in _ALLOWED.items() if status in states)


def check_staff(complaint: Complaint, actor: Actor) -> None:
    """Raise `Refused` unless `actor` is active staff of the holding unit, acting from its
    group (when from a group)."""
    if not actor.active or actor.unit is None:
        raise Refused(Refusal.INACTIVE if actor.unit else Refusal.NOT_STAFF)
    if actor.role not in (Role.STAFF, Role.LEAD, Role.ADMIN):
        raise Refused(Refusal.NOT_STAFF, f"role {actor.role.value}")
    if actor.unit != complaint.unit and actor.role is not Role.ADMIN:
        raise Refused(Refusal.WRONG_UNIT, f"held by {complaint.unit}")
    if actor.via_group and actor.via_unit != complaint.unit:
        raise Refused(Refusal.WRONG_GROUP, f"group of {actor.via_unit or 'no unit'}")


def _text(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise Refused(Refusal.EMPTY, what)
    return text[:TEXT_MAX]


def _entry(
    c: Complaint, new: Complaint, action: str, actor: Actor, now: datetime, note: str = ""
) -> HistoryEntry:
    return HistoryEntry(action, actor, now, c.status, new.status, c.unit, new.unit, note)


def _accept(c: Complaint, _e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    new = replace(c, status=Status.ACCEPTED, accepted_at=c.accepted_at or now)
    notices = [Notice(Audience.CITIZEN, "accepted", {"by": actor.label})]
    return Change(new, _entry(c, new, "accept", actor, now), notices)


def _transfer(c: Complaint, e: Event, actor: Actor, now: datetime, policy: Policy) -> Change:
    assert isinstance(e, Transfer)
    if e.to_unit == c.unit:
        raise Refused(Refusal.SAME_UNIT)
    reason = _text(e.reason, "reason")
    involved = c.units_involved
    if e.to_unit not in involved:
        involved = (*involved, e.to_unit)
    # Leaving the triage desk is routing, not a transfer between units: the 10-day period
    # stands. A real transfer involves several units: 15 days from receipt (1022's rule).
    from_triage = c.status is Status.TRIAGE
    multi = not from_triage
    new = replace(
        c,
        status=Status.ROUTED,
        unit=e.to_unit,
        units_involved=involved,
        transfers=c.transfers + (0 if from_triage else 1),
        # Never earlier than the due date in force (a reopened complaint restarted it).
        due_at=max(c.due_at, policy.due(c.received_at, multi=True)) if multi else c.due_at,
        accepted_at=None,
        assignee=None,  # the assignee was the old unit's: the new unit's lead assigns again
        # The reminder and escalation belong to a due date: a new one gets its own.
        reminded=c.reminded and not multi,
        escalated=c.escalated and not multi,
    )
    notices = [
        Notice(Audience.CITIZEN, "transferred", {"reason": reason, "from_triage": from_triage}),
        Notice(Audience.UNIT, "card"),  # the new unit's group gets the card
    ]
    learn = [LearnExample(c.predicted_unit, e.to_unit, "transfer")]
    return Change(new, _entry(c, new, "transfer", actor, now, reason), notices, learn)


def _request_info(c: Complaint, e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    assert isinstance(e, RequestInfo)
    question = _text(e.question, "question")
    new = replace(c, status=Status.INFO_REQUESTED)
    notices = [Notice(Audience.CITIZEN, "info_requested", {"question": question})]
    return Change(new, _entry(c, new, "request_info", actor, now, question), notices)


def _provide_info(c: Complaint, e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    assert isinstance(e, ProvideInfo)
    text = _text(e.text, "text")
    new = replace(c, status=Status.ACCEPTED)
    notices = [
        Notice(Audience.CITIZEN, "info_received"),
        Notice(Audience.UNIT, "info_provided", {"text": text}),
    ]
    return Change(new, _entry(c, new, "provide_info", actor, now, text), notices)


def _answer(c: Complaint, e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    assert isinstance(e, Answer)
    text = _text(e.text, "answer")
    new = replace(
        c,
        status=Status.ANSWERED,
        accepted_at=c.accepted_at or now,
        answered_at=now,
        closed_at=now,
        satisfied=None,
    )
    notices = [Notice(Audience.CITIZEN, "answered", {"text": text, "on_time": now <= c.due_at})]
    learn = [LearnExample(c.predicted_unit, c.unit, "answered")]
    return Change(new, _entry(c, new, "answer", actor, now, text), notices, learn)


def _reject(c: Complaint, e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    assert isinstance(e, Reject)
    guidance = _text(e.guidance, "guidance")
    new = replace(c, status=Status.REJECTED, closed_at=now)
    notices = [Notice(Audience.CITIZEN, "rejected", {"guidance": guidance})]
    return Change(new, _entry(c, new, "reject", actor, now, guidance), notices)


def _rate(c: Complaint, e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    assert isinstance(e, Rate)
    new = replace(c, status=Status.RATED, satisfied=e.satisfied)
    reason = e.reason.strip()[:TEXT_MAX]
    notices = [Notice(Audience.CITIZEN, "rated", {"satisfied": e.satisfied})]
    if not e.satisfied:
        notices.append(Notice(Audience.UNIT, "rated_unsatisfied", {"reason": reason}))
    return Change(new, _entry(c, new, "rate", actor, now, reason), notices)


def _reopen(c: Complaint, e: Event, actor: Actor, now: datetime, policy: Policy) -> Change:
    assert isinstance(e, Reopen)
    answered = c.answered_at or c.closed_at or c.received_at
    if now - answered > timedelta(days=policy.reopen_days):
        raise Refused(Refusal.TOO_LATE, f"answered {answered.isoformat()}")
    reason = e.reason.strip()[:TEXT_MAX]
    new = replace(
        c,
        status=Status.REOPENED,
        reopened=c.reopened + 1,
        closed_at=None,
        satisfied=None,
        due_at=policy.due(now, multi=c.transfers > 0),
        reminded=False,
        escalated=False,
    )
    notices = [Notice(Audience.CITIZEN, "reopened"), Notice(Audience.UNIT, "card")]
    return Change(new, _entry(c, new, "reopen", actor, now, reason), notices)


def _remind(c: Complaint, _e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    new = replace(c, reminded=True)
    notices = [Notice(Audience.UNIT, "reminder")]
    return Change(new, _entry(c, new, "remind", actor, now), notices, card_changed=False)


def _escalate(c: Complaint, _e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    new = replace(c, escalated=True)
    notices = [
        Notice(Audience.UNIT, "overdue"),
        Notice(Audience.LEADS, "overdue"),
        Notice(Audience.MONITOR, "overdue"),
    ]
    return Change(new, _entry(c, new, "escalate", actor, now), notices)


def _triage_alarm(c: Complaint, _e: Event, actor: Actor, now: datetime, _p: Policy) -> Change:
    new = replace(c, triage_alarmed=True)
    notices = [Notice(Audience.UNIT, "triage_alarm"), Notice(Audience.MONITOR, "triage_alarm")]
    return Change(new, _entry(c, new, "triage_alarm", actor, now), notices, card_changed=False)


_HANDLERS: dict[type[Any], Any] = {
    Accept: _accept,
    Transfer: _transfer,
    RequestInfo: _request_info,
    ProvideInfo: _provide_info,
    Answer: _answer,
    Reject: _reject,
    Rate: _rate,
    Reopen: _reopen,
    Remind: _remind,
    Escalate: _escalate,
    TriageAlarm: _triage_alarm,
}


# --- assignment inside the unit (the console's «Giao xử lý») -------------------------------


@dataclass(frozen=True)
class Assignee:
    """A staff member a complaint may be given to, as the rule sees them."""

    id: str
    name: str
    unit: str | None
    role: Role = Role.STAFF
    active: bool = True


ASSIGNER_ROLES = frozenset({Role.LEAD, Role.ADMIN})


def check_assign(complaint: Complaint, actor: Actor, assignee: Assignee | None = None) -> None:
    """Raise `Refused` unless `actor` may give `complaint` to `assignee` (None: take it back):
    an open complaint, a lead or admin who may act on it (`check_staff`: of the holding unit,
    admins of any), and an active staff member, lead or admin of the holding unit. A transfer
    clears the assignee (`_transfer`); a closed complaint keeps its last one, as a record."""
    if complaint.status not in OPEN:
        raise Refused(Refusal.STATE, f"assign in {complaint.status.value}")
    check_staff(complaint, actor)
    if actor.role not in ASSIGNER_ROLES:
        raise Refused(Refusal.NOT_LEAD, f"role {actor.role.value}")
    if assignee is None:
        return
    problem = _assignee_problem(complaint, assignee)
    if problem is not None:
        raise Refused(Refusal.BAD_ASSIGNEE, problem)


def _assignee_problem(complaint: Complaint, assignee: Assignee) -> str | None:
    if assignee.unit != complaint.unit or assignee.role not in (Role.STAFF, *ASSIGNER_ROLES):
        return f"{assignee.id} of {assignee.unit or 'no unit'}"
    if not assignee.active:
        return f"{assignee.id} inactive"
    return None


def assignee_fits(complaint: Complaint, assignee: Assignee) -> bool:
    """Whether `assignee` may hold `complaint`: the conditions `check_assign` puts on them."""
    return _assignee_problem(complaint, assignee) is None


def release(complaint: Complaint, now: datetime) -> Change:
    """The system takes an open complaint back from an assignee who no longer fits it (their
    account deactivated, or moved to another unit): to nobody, named in the history, so the
    unit's lead sees it unassigned instead of held by someone who cannot act on it."""
    new = replace(complaint, assignee=None)
    entry = HistoryEntry(
        "unassign",
        SYSTEM,
        now,
        complaint.status,
        complaint.status,
        complaint.unit,
        complaint.unit,
        "",
    )
    return Change(new, entry, [])  # the card names the assignee


def assign(complaint: Complaint, assignee: Assignee | None, actor: Actor, now: datetime) -> Change:
    """Give the complaint to `assignee` (None: to nobody) after `check_assign`; the history
    names them. No status change and nobody outside the unit is told; the unit's cards,
    which name the assignee, are redrawn."""
    check_assign(complaint, actor, assignee)
    new = replace(complaint, assignee=assignee.id if assignee else None)
    entry = HistoryEntry(
        "assign" if assignee else "unassign",
        actor,
        now,
        complaint.status,
        complaint.status,
        complaint.unit,
        complaint.unit,
        assignee.name if assignee else "",
    )
    return Change(new, entry, [])


# --- the scheduler's view -------------------------------------------------------------------


def due_events(c: Complaint, now: datetime, policy: Policy) -> list[Event]:
    """The system events due for this complaint at `now` (each at most once per due date)."""
    events: list[Event] = []
    triage = c.status is Status.TRIAGE
    if triage and not c.triage_alarmed and now - c.received_at >= policy.triage_alarm_after:
        events.append(TriageAlarm())
    if c.status not in OPEN or c.escalated:
        return events
    if now > c.due_at:
        events.append(Escalate())
    elif not triage and not c.reminded and now >= c.due_at - policy.remind_before:
        events.append(Remind())
    return events


def next_check(c: Complaint, policy: Policy) -> datetime | None:
    """When the scheduler must look at this complaint next (None: never again). Stored and
    indexed, so a pass reads only what is due."""
    if c.status not in OPEN:
        return None
    times: list[datetime] = []
    if c.status is Status.TRIAGE and not c.triage_alarmed:
        times.append(c.received_at + policy.triage_alarm_after)
    if not c.escalated:
        if c.status is not Status.TRIAGE and not c.reminded:
            times.append(c.due_at - policy.remind_before)
        times.append(c.due_at + timedelta(seconds=1))
    return min(times) if times else None


def is_overdue(c: Complaint, now: datetime) -> bool:
    return c.status in OPEN and now > c.due_at


def answered_on_time(c: Complaint) -> bool | None:
    if c.answered_at is None:
        return None
    return c.answered_at <= c.due_at
