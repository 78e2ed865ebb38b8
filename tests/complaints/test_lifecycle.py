"""The complaint lifecycle's rules (complaints/lifecycle.py) against the domain's rules
(shared/domain/complaints.md): who may do what in which state, deadlines, notices, the
scheduler's events and the due-date arithmetic in calendar and working days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from complaints.holidays import load_holidays
from complaints.lifecycle import (
    ACTIONS,
    CITIZEN,
    CLOSED,
    OPEN,
    SYSTEM,
    TEXT_MAX,
    Accept,
    Actor,
    ActorKind,
    Answer,
    Audience,
    Change,
    Complaint,
    Escalate,
    Event,
    LearnExample,
    Notice,
    Policy,
    ProvideInfo,
    Rate,
    Refusal,
    Refused,
    Reject,
    Remind,
    Reopen,
    RequestInfo,
    Role,
    Routing,
    Status,
    Track,
    Transfer,
    TriageAlarm,
    allowed_actions,
    apply,
    check,
    closed_states,
    due_events,
    is_overdue,
    next_check,
    open_states,
    submit,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = Policy()
# Tuesday 10 March 2026, 09:00 in Ho Chi Minh City (UTC+7).
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
UNIT = "SXD"
OTHER = "CATP"
TRIAGE_DESK = "VPUBND"


def staff(unit: str | None = UNIT, **kw: Any) -> Actor:
    return Actor(ActorKind.STAFF, id=f"staff-{unit}", name="Chị Lan", unit=unit, **kw)


STAFF = staff()


def end_of_local_day(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=VN).astimezone(UTC)


def local_date(t: datetime) -> date:
    return t.astimezone(VN).date()


def new(triage: bool = False, unit: str = UNIT, at: datetime = T0, **kw: Any) -> Complaint:
    """A fresh complaint as `submit` makes it."""
    routing = Routing(
        unit=TRIAGE_DESK if triage else unit,
        confidence=0.4 if triage else 0.9,
        predicted_unit=unit,
        triage=triage,
    )
    c, _, _ = submit(routing, at, POLICY, **kw)
    return c


ANSWERED_AT = T0 + timedelta(days=1)


def in_state(status: Status) -> Complaint:
    """A complaint of unit SXD in `status`, answered/closed one day after receipt."""
    c = new(triage=status is Status.TRIAGE)
    answered = ANSWERED_AT
    if status in (Status.ANSWERED, Status.RATED):
        return replace(
            c,
            status=status,
            accepted_at=T0,
            answered_at=answered,
            closed_at=answered,
            satisfied=True if status is Status.RATED else None,
        )
    if status is Status.REJECTED:
        return replace(c, status=status, closed_at=answered)
    if status is Status.REOPENED:
        return replace(c, status=status, accepted_at=T0, answered_at=answered, reopened=1)
    if status is Status.FEEDBACK:
        return new(anonymous=True)
    return replace(c, status=status)


# One valid (event, actor) per action: the actor the action belongs to.
EVENTS: dict[str, tuple[Event, Actor]] = {
    "accept": (Accept(), STAFF),
    "transfer": (Transfer(OTHER, "thuộc thẩm quyền Công an"), STAFF),
    "request_info": (RequestInfo("Đoạn đường nào ạ?"), STAFF),
    "provide_info": (ProvideInfo("Trước số 12 Lê Lợi"), CITIZEN),
    "answer": (Answer("Đã vá ổ gà."), STAFF),
    "reject": (Reject("Vui lòng gửi đơn khiếu nại tới Thanh tra."), STAFF),
    "rate": (Rate(satisfied=True), CITIZEN),
    "reopen": (Reopen("Vẫn còn ổ gà"), CITIZEN),
    "remind": (Remind(), SYSTEM),
    "escalate": (Escalate(), SYSTEM),
    "triage_alarm": (TriageAlarm(), SYSTEM),
}
assert set(EVENTS) == set(ACTIONS.values())

S = Status
# The rule book, written out from the domain rules and the module's diagram.
ALLOWED: dict[str, set[Status]] = {
    "accept": {S.ROUTED, S.REOPENED},
    "transfer": {S.TRIAGE, S.ROUTED, S.ACCEPTED, S.REOPENED},
    "request_info": {S.ACCEPTED, S.REOPENED},
    "provide_info": {S.INFO_REQUESTED},
    "answer": {S.ROUTED, S.ACCEPTED, S.INFO_REQUESTED, S.REOPENED},
    "reject": {S.TRIAGE, S.ROUTED, S.ACCEPTED, S.INFO_REQUESTED, S.REOPENED},
    "rate": {S.ANSWERED},
    "reopen": {S.ANSWERED, S.RATED},
    "remind": {S.ROUTED, S.ACCEPTED, S.INFO_REQUESTED, S.REOPENED},
    "escalate": {S.TRIAGE, S.ROUTED, S.ACCEPTED, S.INFO_REQUESTED, S.REOPENED},
    "triage_alarm": {S.TRIAGE},
}
RESULT: dict[str, Status | None] = {  # None: the status does not change
    "accept": S.ACCEPTED,
    "transfer": S.ROUTED,
    "request_info": S.INFO_REQUESTED,
    "provide_info": S.ACCEPTED,
    "answer": S.ANSWERED,
    "reject": S.REJECTED,
    "rate": S.RATED,
    "reopen": S.REOPENED,
    "remind": None,
    "escalate": None,
    "triage_alarm": None,
}
TABLE = [(status, action) for status in Status for action in EVENTS]
NOW = T0 + timedelta(days=2)  # within the reopen window of `in_state`'s answers


def actor_for(c: Complaint, action: str) -> Actor:
    actor = EVENTS[action][1]
    return staff(c.unit) if actor is STAFF else actor


def act(c: Complaint, action: str, now: datetime = NOW) -> Change:
    return apply(c, EVENTS[action][0], actor_for(c, action), now, POLICY)


# --- groups ----------------------------------------------------------------------------------


def test_groups_partition_the_handled_states() -> None:
    assert open_states() == OPEN and closed_states() == CLOSED
    assert not OPEN & CLOSED
    assert set(Status) == OPEN | CLOSED | {Status.FEEDBACK}
    assert {Status.ANSWERED, Status.RATED, Status.REJECTED} == CLOSED


# --- the state x action table ----------------------------------------------------------------


@pytest.mark.parametrize(("status", "action"), TABLE, ids=[f"{s}-{a}" for s, a in TABLE])
def test_state_action_table(status: Status, action: str) -> None:
    c = in_state(status)
    assert (action in allowed_actions(status)) is (status in ALLOWED[action])
    if status in ALLOWED[action]:
        check(c, action, actor_for(c, action))  # the same checks, without the content
        change = act(c, action)
        expected = RESULT[action] or status
        assert change.complaint.status is expected
        assert change.history.action == action
        assert change.history.from_status is status
        assert change.history.to_status is expected
        assert change.history.at == NOW
    else:
        with pytest.raises(Refused) as err:
            act(c, action)
        assert err.value.reason is Refusal.STATE
        with pytest.raises(Refused) as err:
            check(c, action, actor_for(c, action))
        assert err.value.reason is Refusal.STATE


def test_allowed_actions_are_the_buttons_of_each_state() -> None:
    assert allowed_actions(Status.FEEDBACK) == frozenset()
    assert allowed_actions(Status.REJECTED) == frozenset()
    assert allowed_actions(Status.ANSWERED) == {"rate", "reopen"}
    assert allowed_actions(Status.TRIAGE) == {"transfer", "reject", "escalate", "triage_alarm"}
    for status in Status:
        assert allowed_actions(status) == {a for a, states in ALLOWED.items() if status in states}


def test_every_action_is_refused_on_anonymous_feedback() -> None:
    c = new(anonymous=True)
    assert c.status is Status.FEEDBACK
    for action in EVENTS:
        with pytest.raises(Refused) as err:
            act(c, action)
        assert err.value.reason is Refusal.STATE


def test_refused_says_why_in_its_message() -> None:
    with pytest.raises(Refused) as err:
        act(in_state(Status.ANSWERED), "accept")
    assert err.value.reason is Refusal.STATE
    assert str(err.value) == "state: accept in answered"
    assert Refused(Refusal.EMPTY).detail == "" and str(Refused(Refusal.EMPTY)) == "empty"


# --- who may act -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (staff(OTHER), Refusal.WRONG_UNIT),
        (staff(OTHER, role=Role.LEAD), Refusal.WRONG_UNIT),
        (staff(active=False), Refusal.INACTIVE),
        (staff(None), Refusal.NOT_STAFF),
        (staff(role=Role.ANALYST), Refusal.NOT_STAFF),
        (staff(via_group=True, via_unit=OTHER), Refusal.WRONG_GROUP),
        (staff(via_group=True, via_unit=None), Refusal.WRONG_GROUP),
        (staff(OTHER, role=Role.ADMIN, via_group=True, via_unit=OTHER), Refusal.WRONG_GROUP),
    ],
    ids=[
        "other-unit",
        "lead-of-other-unit",
        "inactive",
        "no-unit",
        "analyst",
        "group-of-other-unit",
        "group-of-no-unit",
        "admin-in-other-group",
    ],
)
@pytest.mark.parametrize("action", ["accept", "transfer", "answer", "reject"])
def test_staff_who_may_not_act(actor: Actor, reason: Refusal, action: str) -> None:
    event, _ = EVENTS[action]
    with pytest.raises(Refused) as err:
        apply(in_state(Status.ROUTED), event, actor, NOW, POLICY)
    assert err.value.reason is reason
    with pytest.raises(Refused) as err:
        check(in_state(Status.ROUTED), action, actor)
    assert err.value.reason is reason


@pytest.mark.parametrize(
    "actor",
    [
        STAFF,
        staff(role=Role.LEAD),
        staff(role=Role.ADMIN),
        staff(OTHER, role=Role.ADMIN),  # the web console: no group
        staff(via_group=True, via_unit=UNIT),
        staff(via_group=False, via_unit=OTHER),  # via_unit only counts from a group
    ],
    ids=["staff", "lead", "admin", "admin-of-other-unit", "own-group", "console"],
)
def test_staff_who_may_act(actor: Actor) -> None:
    change = apply(in_state(Status.ROUTED), Accept(), actor, NOW, POLICY)
    assert change.complaint.status is Status.ACCEPTED
    assert change.history.actor == actor


@pytest.mark.parametrize("action", ["accept", "transfer", "request_info", "answer", "reject"])
def test_staff_actions_are_refused_to_citizens(action: str) -> None:
    event, _ = EVENTS[action]
    c = in_state(Status.ACCEPTED)
    with pytest.raises(Refused) as err:
        apply(c, event, CITIZEN, NOW, POLICY)
    assert err.value.reason is Refusal.NOT_STAFF


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("provide_info", Status.INFO_REQUESTED),
        ("rate", Status.ANSWERED),
        ("reopen", Status.ANSWERED),
    ],
)
def test_citizen_actions_are_refused_to_staff(action: str, status: Status) -> None:
    event, _ = EVENTS[action]
    for actor in (STAFF, staff(role=Role.LEAD), staff(role=Role.ADMIN)):
        with pytest.raises(Refused) as err:
            apply(in_state(status), event, actor, NOW, POLICY)
        assert err.value.reason is Refusal.NOT_OWNER
    with pytest.raises(Refused) as err:
        apply(in_state(status), event, SYSTEM, NOW, POLICY)
    assert err.value.reason is Refusal.NOT_STAFF


@pytest.mark.parametrize("action", ["remind", "escalate", "triage_alarm"])
def test_system_actions_are_refused_to_citizens(action: str) -> None:
    event, _ = EVENTS[action]
    status = Status.TRIAGE if action == "triage_alarm" else Status.ROUTED
    with pytest.raises(Refused) as err:
        apply(in_state(status), event, CITIZEN, NOW, POLICY)
    assert err.value.reason is Refusal.NOT_STAFF


@pytest.mark.parametrize("action", ["accept", "transfer", "answer", "reject"])
def test_staff_actions_are_refused_to_the_system(action: str) -> None:
    event, _ = EVENTS[action]
    with pytest.raises(Refused) as err:
        apply(in_state(Status.ROUTED), event, SYSTEM, NOW, POLICY)
    assert err.value.reason is Refusal.NOT_STAFF


@pytest.mark.parametrize("action", ["remind", "escalate", "triage_alarm"])
def test_system_actions_are_refused_to_staff(action: str) -> None:
    event, _ = EVENTS[action]
    triage = action == "triage_alarm"
    c = in_state(Status.TRIAGE if triage else Status.ROUTED)
    actor = staff(TRIAGE_DESK if triage else UNIT)
    with pytest.raises(Refused):
        apply(c, event, actor, NOW, POLICY)


# --- intake ----------------------------------------------------------------------------------


def test_submit_routes_with_a_ten_day_due_date_and_tells_citizen_and_unit() -> None:
    routing = Routing(unit=UNIT, confidence=0.9, predicted_unit=UNIT, triage=False)
    c, history, notices = submit(routing, T0, POLICY)
    assert c.status is Status.ROUTED and c.unit == UNIT and c.track is Track.PAKN
    assert c.received_at == T0
    assert c.due_at == end_of_local_day(date(2026, 3, 20))
    assert c.units_involved == (UNIT,) and c.predicted_unit == UNIT
    assert (c.transfers, c.reopened, c.closed_at, c.accepted_at) == (0, 0, None, None)
    assert (history.action, history.actor, history.from_status, history.to_status) == (
        "submit",
        CITIZEN,
        None,
        Status.ROUTED,
    )
    assert [(n.audience, n.kind) for n in notices] == [
        (Audience.CITIZEN, "received"),
        (Audience.UNIT, "card"),
    ]
    assert notices[0].params == {"triage": False}


def test_submit_unsure_goes_to_the_triage_desk() -> None:
    routing = Routing(unit=TRIAGE_DESK, confidence=0.3, predicted_unit=UNIT, triage=True)
    c, _, notices = submit(routing, T0, POLICY)
    assert c.status is Status.TRIAGE and c.unit == TRIAGE_DESK and c.predicted_unit == UNIT
    assert notices[0].params == {"triage": True}


def test_submit_khieu_nai_tells_the_citizen_about_the_other_track() -> None:
    routing = Routing("THANHTRA", 0.9, "THANHTRA", triage=False, track=Track.KHIEU_NAI)
    c, _, notices = submit(routing, T0, POLICY)
    assert c.track is Track.KHIEU_NAI
    assert notices[0] == Notice(Audience.CITIZEN, "received_khieu_nai", {"triage": False})


def test_submit_anonymous_is_kept_as_feedback_only() -> None:
    routing = Routing(unit=UNIT, confidence=0.9, predicted_unit=UNIT, triage=True)
    c, history, notices = submit(routing, T0, POLICY, anonymous=True)
    assert c.status is Status.FEEDBACK and c.anonymous
    assert c.status not in OPEN and c.status not in CLOSED
    assert history.to_status is Status.FEEDBACK
    assert [(n.audience, n.kind) for n in notices] == [(Audience.CITIZEN, "feedback_kept")]
    assert next_check(c, POLICY) is None
    assert due_events(c, T0 + timedelta(days=30), POLICY) == []


# --- transfer --------------------------------------------------------------------------------


def test_transfer_from_triage_is_routing_and_keeps_the_ten_day_due_date() -> None:
    c = new(triage=True)
    at = T0 + timedelta(minutes=20)
    change = apply(c, Transfer(UNIT, "đường sá"), staff(TRIAGE_DESK), at, POLICY)
    n = change.complaint
    assert n.status is Status.ROUTED and n.unit == UNIT
    assert n.due_at == c.due_at == end_of_local_day(date(2026, 3, 20))
    assert n.transfers == 0
    assert n.units_involved == (TRIAGE_DESK, UNIT)
    assert (change.history.from_unit, change.history.to_unit) == (TRIAGE_DESK, UNIT)
    assert change.history.note == "đường sá"
    assert [(x.audience, x.kind) for x in change.notices] == [
        (Audience.CITIZEN, "transferred"),
        (Audience.UNIT, "card"),
    ]
    assert change.notices[0].params == {"reason": "đường sá", "from_triage": True}
    assert change.learn == [LearnExample(UNIT, UNIT, "transfer")]


def test_transfer_between_units_sets_fifteen_days_from_receipt() -> None:
    c = replace(in_state(Status.ACCEPTED), accepted_at=T0, reminded=True, escalated=True)
    at = T0 + timedelta(days=3)
    change = apply(c, Transfer(OTHER, "trộm cắp"), STAFF, at, POLICY)
    n = change.complaint
    assert n.status is Status.ROUTED and n.unit == OTHER
    assert n.due_at == end_of_local_day(date(2026, 3, 25))  # 10/3 + 15 days
    assert n.due_at == POLICY.due(c.received_at, multi=True)
    assert n.transfers == 1 and n.units_involved == (UNIT, OTHER)
    assert n.accepted_at is None and not n.reminded and not n.escalated
    assert change.notices[0].params == {"reason": "trộm cắp", "from_triage": False}
    assert change.learn == [LearnExample(UNIT, OTHER, "transfer")]
    # Back to a unit that already held it: involved once, counted as a transfer.
    back = apply(n, Transfer(UNIT, "trả lại"), staff(OTHER), at, POLICY).complaint
    assert back.units_involved == (UNIT, OTHER) and back.transfers == 2


def test_transfer_to_the_holding_unit_is_refused() -> None:
    with pytest.raises(Refused) as err:
        apply(in_state(Status.ROUTED), Transfer(UNIT, "x"), STAFF, NOW, POLICY)
    assert err.value.reason is Refusal.SAME_UNIT
    with pytest.raises(Refused) as err:
        apply(new(triage=True), Transfer(TRIAGE_DESK, "x"), staff(TRIAGE_DESK), NOW, POLICY)
    assert err.value.reason is Refusal.SAME_UNIT


def test_transfer_of_a_reopened_complaint_does_not_shorten_its_due_date() -> None:
    answered = T0 + timedelta(days=14)
    c = replace(in_state(Status.ANSWERED), answered_at=answered, closed_at=answered, accepted_at=T0)
    reopened = apply(c, Reopen("chưa xử lý"), CITIZEN, T0 + timedelta(days=20), POLICY)
    at = T0 + timedelta(days=21)
    moved = apply(reopened.complaint, Transfer(OTHER, "x"), STAFF, at, POLICY).complaint
    assert moved.due_at >= reopened.complaint.due_at
    assert not is_overdue(moved, at)


# --- other transitions -----------------------------------------------------------------------


def test_accept_tells_the_citizen_who_took_it() -> None:
    change = apply(in_state(Status.ROUTED), Accept(), STAFF, NOW, POLICY)
    assert change.complaint.accepted_at == NOW
    assert [(n.audience, n.kind, n.params) for n in change.notices] == [
        (Audience.CITIZEN, "accepted", {"by": "Chị Lan"})
    ]
    assert change.learn == [] and change.card_changed
    # A reopened complaint keeps its first acceptance time.
    again = apply(in_state(Status.REOPENED), Accept(), STAFF, NOW, POLICY).complaint
    assert again.accepted_at == T0


def test_request_and_provide_info_round_trip() -> None:
    asked = apply(in_state(Status.ACCEPTED), RequestInfo(" Số nhà? "), STAFF, NOW, POLICY)
    assert asked.complaint.status is Status.INFO_REQUESTED
    assert asked.history.note == "Số nhà?"
    assert [(n.audience, n.kind, n.params) for n in asked.notices] == [
        (Audience.CITIZEN, "info_requested", {"question": "Số nhà?"})
    ]
    told = apply(asked.complaint, ProvideInfo("12"), CITIZEN, NOW, POLICY)
    assert told.complaint.status is Status.ACCEPTED
    assert [(n.audience, n.kind, n.params) for n in told.notices] == [
        (Audience.CITIZEN, "info_received", {}),
        (Audience.UNIT, "info_provided", {"text": "12"}),
    ]


@pytest.mark.parametrize("status", [Status.ROUTED, Status.ACCEPTED, Status.INFO_REQUESTED])
def test_answer_closes_and_teaches_the_router(status: Status) -> None:
    c = in_state(status)
    change = apply(c, Answer("  Đã xử lý.  "), STAFF, NOW, POLICY)
    n = change.complaint
    assert n.status is Status.ANSWERED and n.status in CLOSED
    assert n.answered_at == n.closed_at == NOW
    assert n.accepted_at == (c.accepted_at or NOW)
    assert n.satisfied is None
    assert change.history.note == "Đã xử lý."
    assert [(x.audience, x.kind, x.params) for x in change.notices] == [
        (Audience.CITIZEN, "answered", {"text": "Đã xử lý.", "on_time": True})
    ]
    assert change.learn == [LearnExample(UNIT, UNIT, "answered")]


def test_answer_after_the_due_date_is_marked_late() -> None:
    c = in_state(Status.ACCEPTED)
    on_due = apply(c, Answer("ok"), STAFF, c.due_at, POLICY)
    assert on_due.notices[0].params["on_time"] is True
    late = apply(c, Answer("ok"), STAFF, c.due_at + timedelta(seconds=1), POLICY)
    assert late.notices[0].params["on_time"] is False


def test_reject_closes_with_guidance_and_no_learning() -> None:
    change = apply(in_state(Status.ROUTED), Reject("Gửi Thanh tra"), STAFF, NOW, POLICY)
    assert change.complaint.status is Status.REJECTED and change.complaint.closed_at == NOW
    assert change.complaint.answered_at is None
    assert [(n.audience, n.kind, n.params) for n in change.notices] == [
        (Audience.CITIZEN, "rejected", {"guidance": "Gửi Thanh tra"})
    ]
    assert change.learn == []


@pytest.mark.parametrize(
    ("event", "status", "actor"),
    [
        (Answer("   "), Status.ACCEPTED, STAFF),
        (Answer(""), Status.ROUTED, STAFF),
        (RequestInfo("\n\t"), Status.ACCEPTED, STAFF),
        (Reject(" "), Status.ROUTED, STAFF),
        (Transfer(OTHER, "  "), Status.ROUTED, STAFF),
        (ProvideInfo(""), Status.INFO_REQUESTED, CITIZEN),
    ],
    ids=["answer-blank", "answer-empty", "question", "guidance", "transfer-reason", "info"],
)
def test_empty_text_is_refused(event: Event, status: Status, actor: Actor) -> None:
    with pytest.raises(Refused) as err:
        apply(in_state(status), event, actor, NOW, POLICY)
    assert err.value.reason is Refusal.EMPTY


def test_long_text_is_cut_to_the_maximum() -> None:
    change = apply(in_state(Status.ACCEPTED), Answer("a" * (TEXT_MAX + 50)), STAFF, NOW, POLICY)
    assert len(change.history.note) == TEXT_MAX
    assert len(change.notices[0].params["text"]) == TEXT_MAX


# --- rating and reopening --------------------------------------------------------------------


def test_rating_satisfied_tells_only_the_citizen() -> None:
    change = apply(in_state(Status.ANSWERED), Rate(True), CITIZEN, NOW, POLICY)
    assert change.complaint.status is Status.RATED and change.complaint.satisfied is True
    assert change.complaint.closed_at == in_state(Status.ANSWERED).closed_at
    assert [(n.audience, n.kind, n.params) for n in change.notices] == [
        (Audience.CITIZEN, "rated", {"satisfied": True})
    ]


def test_rating_unsatisfied_tells_the_unit_why() -> None:
    change = apply(in_state(Status.ANSWERED), Rate(False, " chậm "), CITIZEN, NOW, POLICY)
    assert change.complaint.satisfied is False
    assert [(n.audience, n.kind, n.params) for n in change.notices] == [
        (Audience.CITIZEN, "rated", {"satisfied": False}),
        (Audience.UNIT, "rated_unsatisfied", {"reason": "chậm"}),
    ]
    with pytest.raises(Refused) as err:  # rated once
        apply(change.complaint, Rate(True), CITIZEN, NOW, POLICY)
    assert err.value.reason is Refusal.STATE


@pytest.mark.parametrize("status", [Status.ANSWERED, Status.RATED])
@pytest.mark.parametrize(
    "after",
    [timedelta(minutes=5), timedelta(days=6, hours=23), timedelta(days=7)],
    ids=["at-once", "day-6", "exactly-7-days"],
)
def test_reopen_within_seven_days(status: Status, after: timedelta) -> None:
    c = replace(in_state(status), reminded=True, escalated=True)
    now = ANSWERED_AT + after
    change = apply(c, Reopen(), CITIZEN, now, POLICY)
    n = change.complaint
    assert n.status is Status.REOPENED and n.status in OPEN
    assert n.closed_at is None and n.satisfied is None and n.reopened == 1
    assert not n.reminded and not n.escalated
    assert n.due_at == POLICY.due(now, multi=False)  # a fresh 10-day period
    assert n.answered_at == c.answered_at
    assert [(x.audience, x.kind) for x in change.notices] == [
        (Audience.CITIZEN, "reopened"),
        (Audience.UNIT, "card"),
    ]


@pytest.mark.parametrize("status", [Status.ANSWERED, Status.RATED])
def test_reopen_after_seven_days_is_too_late(status: Status) -> None:
    c = in_state(status)
    late = ANSWERED_AT + timedelta(days=7, seconds=1)
    with pytest.raises(Refused) as err:
        apply(c, Reopen("còn"), CITIZEN, late, POLICY)
    assert err.value.reason is Refusal.TOO_LATE
    shorter = Policy(reopen_days=3)
    with pytest.raises(Refused):
        apply(c, Reopen(), CITIZEN, ANSWERED_AT + timedelta(days=4), shorter)


def test_reopen_of_a_transferred_complaint_gets_fifteen_days() -> None:
    c = replace(in_state(Status.ANSWERED), units_involved=(UNIT, OTHER), transfers=1)
    change = apply(c, Reopen(), CITIZEN, NOW, POLICY)
    assert change.complaint.due_at == POLICY.due(NOW, multi=True)


def test_reopen_of_a_complaint_routed_by_triage_gets_ten_days() -> None:
    c = new(triage=True)
    routed = apply(c, Transfer(UNIT, "đường"), staff(TRIAGE_DESK), T0, POLICY).complaint
    answered = apply(routed, Answer("xong"), STAFF, T0 + timedelta(days=1), POLICY).complaint
    reopened = apply(answered, Reopen(), CITIZEN, NOW, POLICY).complaint
    assert reopened.due_at == POLICY.due(NOW, multi=False)


def test_a_full_life() -> None:
    c = new()
    c = apply(c, Accept(), STAFF, T0 + timedelta(hours=1), POLICY).complaint
    c = apply(c, RequestInfo("Ở đâu?"), STAFF, T0 + timedelta(hours=2), POLICY).complaint
    c = apply(c, ProvideInfo("Quận 1"), CITIZEN, T0 + timedelta(hours=3), POLICY).complaint
    c = apply(c, Answer("Đã sửa"), STAFF, T0 + timedelta(days=2), POLICY).complaint
    c = apply(c, Rate(False, "chưa"), CITIZEN, T0 + timedelta(days=3), POLICY).complaint
    c = apply(c, Reopen("chưa"), CITIZEN, T0 + timedelta(days=3), POLICY).complaint
    c = apply(c, Answer("Đã sửa lại"), STAFF, T0 + timedelta(days=4), POLICY).complaint
    c = apply(c, Rate(True), CITIZEN, T0 + timedelta(days=5), POLICY).complaint
    assert c.status is Status.RATED and c.satisfied is True and c.reopened == 1
    assert c.answered_at == c.closed_at == T0 + timedelta(days=4)
    assert c.accepted_at == T0 + timedelta(hours=1)


# --- the scheduler: due_events and next_check -----------------------------------------------


def run_scheduler(c: Complaint, now: datetime) -> tuple[Complaint, list[str]]:
    """Apply what is due until nothing is: what a scheduler pass does."""
    fired: list[str] = []
    for _ in range(10):
        events = due_events(c, now, POLICY)
        if not events:
            return c, fired
        for event in events:
            c = apply(c, event, SYSTEM, now, POLICY).complaint
            fired.append(ACTIONS[type(event)])
    raise AssertionError(f"events keep coming: {fired}")


def test_reminder_two_days_before_the_due_date_once() -> None:
    c = in_state(Status.ACCEPTED)
    remind_at = c.due_at - timedelta(days=2)
    assert due_events(c, T0, POLICY) == []
    assert due_events(c, remind_at - timedelta(seconds=1), POLICY) == []
    assert due_events(c, remind_at, POLICY) == [Remind()]
    change = apply(c, Remind(), SYSTEM, remind_at, POLICY)
    assert change.complaint.reminded and change.complaint.status is Status.ACCEPTED
    assert [(n.audience, n.kind) for n in change.notices] == [(Audience.UNIT, "reminder")]
    assert not change.card_changed
    assert due_events(change.complaint, remind_at, POLICY) == []
    assert due_events(change.complaint, c.due_at, POLICY) == []


def test_escalation_after_the_due_date_once() -> None:
    c = in_state(Status.ROUTED)
    assert due_events(c, c.due_at, POLICY) == [Remind()]  # not yet overdue
    after = c.due_at + timedelta(seconds=1)
    assert is_overdue(c, after) and not is_overdue(c, c.due_at)
    assert due_events(c, after, POLICY) == [Escalate()]  # no late reminder as well
    change = apply(c, Escalate(), SYSTEM, after, POLICY)
    assert change.complaint.escalated and change.card_changed
    assert [(n.audience, n.kind) for n in change.notices] == [
        (Audience.UNIT, "overdue"),
        (Audience.LEADS, "overdue"),
        (Audience.MONITOR, "overdue"),
    ]
    assert due_events(change.complaint, after + timedelta(days=30), POLICY) == []


def test_triage_alarm_after_one_hour_once() -> None:
    c = new(triage=True)
    assert due_events(c, T0 + timedelta(minutes=59, seconds=59), POLICY) == []
    at = T0 + timedelta(hours=1)
    assert due_events(c, at, POLICY) == [TriageAlarm()]
    change = apply(c, TriageAlarm(), SYSTEM, at, POLICY)
    assert change.complaint.triage_alarmed and not change.card_changed
    assert [(n.audience, n.kind) for n in change.notices] == [
        (Audience.UNIT, "triage_alarm"),
        (Audience.MONITOR, "triage_alarm"),
    ]
    assert due_events(change.complaint, at + timedelta(hours=5), POLICY) == []
    # The triage desk gets no due-date reminder, but it is escalated when overdue.
    assert due_events(change.complaint, c.due_at - timedelta(days=1), POLICY) == []
    late = c.due_at + timedelta(seconds=1)
    assert due_events(change.complaint, late, POLICY) == [Escalate()]


def test_overdue_triage_gets_both_alarm_and_escalation_once() -> None:
    c = new(triage=True)
    late = c.due_at + timedelta(days=1)
    assert due_events(c, late, POLICY) == [TriageAlarm(), Escalate()]
    c, fired = run_scheduler(c, late)
    assert fired == ["triage_alarm", "escalate"]


@pytest.mark.parametrize("status", sorted(CLOSED))
def test_closed_complaints_have_nothing_due(status: Status) -> None:
    c = in_state(status)
    assert due_events(c, c.due_at + timedelta(days=100), POLICY) == []
    assert next_check(c, POLICY) is None


@pytest.mark.parametrize(
    "status", [Status.ROUTED, Status.ACCEPTED, Status.INFO_REQUESTED, Status.REOPENED]
)
def test_scheduler_passes_fire_each_event_once(status: Status) -> None:
    c = in_state(status)
    fired: list[str] = []
    t = T0
    while t < c.due_at + timedelta(days=5):
        c, now_fired = run_scheduler(c, t)
        fired += now_fired
        t += timedelta(hours=6)
    assert fired == ["remind", "escalate"]


def test_a_new_due_date_rearms_reminder_and_escalation() -> None:
    c = in_state(Status.ROUTED)
    c, fired = run_scheduler(c, c.due_at + timedelta(seconds=1))
    assert fired == ["escalate"]
    moved = apply(c, Transfer(OTHER, "x"), STAFF, c.due_at + timedelta(hours=1), POLICY).complaint
    assert moved.due_at > c.due_at and not moved.escalated
    assert due_events(moved, c.due_at + timedelta(hours=1), POLICY) == []
    _, fired = run_scheduler(moved, moved.due_at - timedelta(days=2))
    assert fired == ["remind"]


def test_transfer_from_triage_does_not_escalate_twice_for_the_same_due_date() -> None:
    c = new(triage=True)
    late = c.due_at + timedelta(hours=1)
    c, fired = run_scheduler(c, late)
    assert fired == ["triage_alarm", "escalate"]
    routed = apply(c, Transfer(UNIT, "x"), staff(TRIAGE_DESK), late, POLICY).complaint
    assert routed.due_at == c.due_at
    assert due_events(routed, late + timedelta(minutes=1), POLICY) == []


def test_next_check_is_the_earliest_pending_check() -> None:
    c = in_state(Status.ROUTED)
    assert next_check(c, POLICY) == c.due_at - timedelta(days=2)
    reminded = replace(c, reminded=True)
    assert next_check(reminded, POLICY) == c.due_at + timedelta(seconds=1)
    assert next_check(replace(c, reminded=True, escalated=True), POLICY) is None
    assert next_check(replace(c, escalated=True), POLICY) is None
    t = new(triage=True)
    assert next_check(t, POLICY) == T0 + timedelta(hours=1)
    assert next_check(replace(t, triage_alarmed=True), POLICY) == t.due_at + timedelta(seconds=1)
    assert next_check(replace(t, triage_alarmed=True, escalated=True), POLICY) is None
    # An alarm later than the due date: the due date comes first.
    slow = Policy(triage_alarm_after=timedelta(days=30))
    assert next_check(t, slow) == t.due_at + timedelta(seconds=1)


@pytest.mark.parametrize("status", [s for s in Status if s not in OPEN])
def test_next_check_is_none_unless_open(status: Status) -> None:
    assert next_check(in_state(status), POLICY) is None


@pytest.mark.parametrize("status", sorted(OPEN))
def test_something_is_due_at_next_check_and_nothing_just_before(status: Status) -> None:
    c = in_state(status)
    for _ in range(4):
        at = next_check(c, POLICY)
        if at is None:
            break
        assert due_events(c, at - timedelta(seconds=1), POLICY) == []
        events = due_events(c, at, POLICY)
        assert events
        for event in events:
            c = apply(c, event, SYSTEM, at, POLICY).complaint
    assert next_check(c, POLICY) is None


# --- Policy.due: calendar days ---------------------------------------------------------------


def test_due_counts_calendar_days_to_the_end_of_the_local_day_in_utc() -> None:
    start = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 local
    due = POLICY.due(start, multi=False)
    assert due == datetime(2026, 3, 20, 16, 59, 59, tzinfo=UTC)  # 23:59:59 local on 20/3
    assert due.tzinfo is UTC and due.utcoffset() == timedelta(0)
    assert due.astimezone(VN).time() == time(23, 59, 59)
    assert POLICY.due(start, multi=True) == datetime(2026, 3, 25, 16, 59, 59, tzinfo=UTC)


def test_due_of_a_complaint_at_2330_local_counts_from_the_local_day() -> None:
    late_evening = datetime(2026, 3, 10, 23, 30, tzinfo=VN)  # 16:30 UTC on 10/3
    just_after_midnight = datetime(2026, 3, 11, 0, 30, tzinfo=VN)  # 17:30 UTC on 10/3
    a = POLICY.due(late_evening.astimezone(UTC), multi=False)
    b = POLICY.due(just_after_midnight.astimezone(UTC), multi=False)
    assert a == datetime(2026, 3, 20, 16, 59, 59, tzinfo=UTC)
    assert b == datetime(2026, 3, 21, 16, 59, 59, tzinfo=UTC)  # same UTC date, next local day
    assert local_date(a) == date(2026, 3, 20) and local_date(b) == date(2026, 3, 21)


def test_due_is_returned_in_the_start_timezone() -> None:
    start = datetime(2026, 3, 10, 9, 0, tzinfo=VN)
    due = POLICY.due(start, multi=False)
    assert due.tzinfo is VN and due == datetime(2026, 3, 20, 23, 59, 59, tzinfo=VN)


def test_calendar_days_ignore_weekends_and_holidays() -> None:
    start = datetime(2026, 2, 13, 9, 0, tzinfo=VN)  # Friday before Tết
    policy = Policy(holidays=load_holidays())
    assert local_date(policy.due(start, multi=False)) == date(2026, 2, 23)


# --- Policy.due: working days ----------------------------------------------------------------


def test_working_days_skip_the_weekend() -> None:
    policy = Policy(working_days=True)
    thursday = datetime(2025, 6, 5, 10, 0, tzinfo=VN)
    # Fri 6, Mon 9 - Fri 13, Mon 16 - Thu 19 June: ten working days.
    due = policy.due(thursday.astimezone(UTC), multi=False)
    assert due == end_of_local_day(date(2025, 6, 19))
    friday = datetime(2025, 6, 6, 10, 0, tzinfo=VN)
    assert local_date(policy.due(friday, multi=False)) == date(2025, 6, 20)
    saturday = datetime(2025, 6, 7, 10, 0, tzinfo=VN)
    sunday = datetime(2025, 6, 8, 10, 0, tzinfo=VN)
    assert local_date(policy.due(saturday, multi=False)) == date(2025, 6, 20)
    assert local_date(policy.due(sunday, multi=False)) == date(2025, 6, 20)
    # 15 working days from Thursday 5 June: Thursday 26 June.
    assert local_date(policy.due(thursday, multi=True)) == date(2025, 6, 26)


def test_working_days_skip_tet_2026() -> None:
    policy = Policy(working_days=True, holidays=load_holidays())
    start = datetime(2026, 2, 13, 15, 0, tzinfo=VN)  # Friday before the 9-day Tết break
    # 14/2-22/2 off (weekends and Tết 16-20/2); Mon 23/2 is the first working day:
    # 23-27/2 and 2-6/3 are the ten.
    assert policy.due(start.astimezone(UTC), multi=False) == end_of_local_day(date(2026, 3, 6))
    without = Policy(working_days=True)
    assert local_date(without.due(start, multi=False)) == date(2026, 2, 27)
    # Received during Tết: counting starts on Monday 23/2.
    mung_mot = datetime(2026, 2, 17, 8, 0, tzinfo=VN)
    assert local_date(policy.due(mung_mot, multi=False)) == date(2026, 3, 6)


def test_working_days_skip_compensatory_and_swapped_days() -> None:
    policy = Policy(working_days=True, holidays=load_holidays())
    # Friday 24/4/2026: Mon 27/4 (Hùng Kings, taken for Sunday 26/4), Thu 30/4, Fri 1/5 off.
    start = datetime(2026, 4, 24, 9, 0, tzinfo=VN)
    # 28, 29/4; 4-8/5; 11-13/5 -> the tenth is Wednesday 13/5.
    assert local_date(policy.due(start, multi=False)) == date(2026, 5, 13)
    # New Year 2026: Thu 1/1 and Fri 2/1 (swapped) off.
    nye = datetime(2025, 12, 31, 9, 0, tzinfo=VN)
    assert local_date(policy.due(nye, multi=False)) == date(2026, 1, 16)


# --- properties ------------------------------------------------------------------------------

UNITS = [UNIT, OTHER, TRIAGE_DESK]
_texts = st.sampled_from(["", "  ", "ok", "Đường bị ngập"])
_events = st.one_of(
    st.just(Accept()),
    st.builds(Transfer, st.sampled_from(UNITS), _texts),
    st.builds(RequestInfo, _texts),
    st.builds(ProvideInfo, _texts),
    st.builds(Answer, _texts),
    st.builds(Reject, _texts),
    st.builds(Rate, st.booleans(), _texts),
    st.builds(Reopen, _texts),
    st.just(Remind()),
    st.just(Escalate()),
    st.just(TriageAlarm()),
)
_actors = st.sampled_from(["citizen", "system", "holder", "other", "admin", "group", "analyst"])
_steps = st.lists(
    st.tuples(_events, _actors, st.integers(min_value=0, max_value=6 * 24 * 60)),
    max_size=25,
)


def _actor(kind: str, c: Complaint) -> Actor:
    return {
        "citizen": CITIZEN,
        "system": SYSTEM,
        "holder": staff(c.unit),
        "other": staff(OTHER if c.unit != OTHER else UNIT),
        "admin": staff(TRIAGE_DESK, role=Role.ADMIN),
        "group": staff(c.unit, via_group=True, via_unit=c.unit),
        "analyst": staff(c.unit, role=Role.ANALYST),
    }[kind]


def _check_invariants(c: Complaint, now: datetime) -> None:
    assert isinstance(c.status, Status) and c.status in set(Status)
    assert not OPEN & CLOSED
    assert (c.status in OPEN) + (c.status in CLOSED) + (c.status is Status.FEEDBACK) == 1
    if c.status in CLOSED:
        assert c.closed_at is not None
    else:
        assert c.closed_at is None
    if c.status in (Status.ANSWERED, Status.RATED):
        assert c.answered_at is not None
    if c.status is Status.RATED:
        assert c.satisfied is not None
    assert c.unit in c.units_involved
    assert c.due_at > c.received_at
    assert (next_check(c, POLICY) is None) or c.status in OPEN
    for event in due_events(c, now, POLICY):  # what is due can be applied by the system
        apply(c, event, SYSTEM, now, POLICY)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(triage=st.booleans(), anonymous=st.booleans(), steps=_steps)
def test_any_sequence_of_events_keeps_the_complaint_consistent(
    triage: bool, anonymous: bool, steps: list[tuple[Event, str, int]]
) -> None:
    c = new(triage=triage, anonymous=anonymous)
    now = T0
    _check_invariants(c, now)
    for event, actor_kind, minutes in steps:
        now += timedelta(minutes=minutes)
        try:
            change = apply(c, event, _actor(actor_kind, c), now, POLICY)
        except Refused as refused:
            assert isinstance(refused.reason, Refusal)
            continue
        assert change.history.to_status is change.complaint.status
        assert change.history.from_status is c.status
        assert change.history.at == now
        c = change.complaint
        _check_invariants(c, now)
