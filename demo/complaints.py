"""Simulated complaints (phản ánh, kiến nghị) for `hailong demo`.

Each complaint is played through the real rules, `complaints.lifecycle`: submitted (routed
automatically, through the triage desk, or kept as anonymous feedback), then transferred,
accepted, questioned, answered, rated, reopened or rejected by simulated staff and citizens,
with the scheduler's reminders, escalations and triage alarms at the times the real scheduler
would send them. Whatever would happen after `now` does not happen: recent complaints are
still open, some of them past their due date. So every stored row is one the application
could have written: statuses, due dates (10 days, 15 after a transfer, end of the local day),
flags, `next_check_at` (NULL once closed) and a `complaint_event` history row per change.

Texts are the router's seed corpus (synthetic, written for the project), masked with
`nlp.pii.mask_pii`; how units behave and what staff answer is `data/demo_complaints.yaml`.
Codes are PA-YYYY-NNNNNN in order of receipt within each local year, continuing after
`complaint_sequence`, which is moved to the last number used. No personal data: open
complaints get a placeholder name and a 0900000xxx phone (staff need a contact to act), and
the last open one is put in the terminal chat `demo` so that it can be followed with
`hailong chat --user demo` and `/tracuu CODE`.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from complaints import lifecycle as lc
from storage.catalogue import Catalogue, load_catalogue, upsert_catalogue
from storage.db import session_scope
from storage.models import (
    Complaint,
    ComplaintEvent,
    ComplaintSequence,
    RoutingExample,
    Unit,
    table,
)

DEMO_COMPLAINTS = Path(__file__).parent / "data" / "demo_complaints.yaml"
TRIAGE_UNIT = "VPUBND"
WARD_PARENT = "UBND_XA"
INSPECTORATE = "THANHTRA"
EXAMPLE_CHANNEL, EXAMPLE_CHAT = "console", "demo"
CHANNELS: tuple[tuple[str, float], ...] = (("telegram", 0.45), ("zalo", 0.40), ("web", 0.15))
# Complaints older than this are no longer left unanswered by the simulation.
_STILL_WAITING = timedelta(days=60)


@dataclass
class ComplaintSeedResult:
    complaints: int = 0  # with a code
    feedback: int = 0
    events: int = 0
    example_code: str | None = None  # an open complaint in the terminal chat `demo`
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Profile:
    weight: float
    late: float
    satisfied: float
    accept_hours: float


@dataclass
class _Played:
    """One complaint as the simulation left it."""

    c: lc.Complaint
    label: str
    text: str
    channel: str | None
    ward: tuple[str, str] | None
    routed_automatically: bool
    confidence: float
    candidates: list[list[Any]]
    history: list[lc.HistoryEntry] = field(default_factory=list)
    learn: list[tuple[datetime, lc.LearnExample]] = field(default_factory=list)
    rated_at: datetime | None = None
    answer_text: str | None = None
    stopped: bool = False  # the next action would fall after `now`


def load_demo_config(path: Path | None = None) -> dict[str, Any]:
    data = yaml.safe_load((path or DEMO_COMPLAINTS).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_corpus() -> dict[str, list[str]]:
    """The seed corpus's texts by unit label."""
    from importlib import resources

    path = Path(str(resources.files("nlp") / "data" / "seed_corpus.csv"))
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["label"], []).append(row["text"])
    return out


class _Simulator:
    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        config: dict[str, Any],
        corpus: dict[str, list[str]],
        unit_codes: set[str],
        unit_names: dict[str, str],
    ) -> None:
        from nlp.gazetteer import load_wards

        self.rng, self.now, self.config = rng, now, config
        self.policy = lc.Policy()
        self.shares: dict[str, float] = config["shares"]
        self.names = unit_names
        self.profiles = {
            code: _Profile(**spec)
            for code, spec in config["units"].items()
            if corpus.get(code) and (code in unit_codes or code == WARD_PARENT)
        }
        if WARD_PARENT in self.profiles and WARD_PARENT not in unit_codes:
            del self.profiles[WARD_PARENT]
        self.labels = sorted(self.profiles)
        self.label_cum = _cum([self.profiles[code].weight for code in self.labels])
        self.corpus = corpus
        self.has_triage = TRIAGE_UNIT in unit_codes
        # Wards with a committee in the catalogue; a few busy ones get most complaints.
        wards = [w for w in load_wards() if w.code in unit_codes]
        rng.shuffle(wards)
        self.wards = {w.code: w for w in wards}
        self.ward_list = wards
        self.ward_cum = _cum([1.0 / (rank + 3) for rank in range(len(wards))])

    # --- choices --------------------------------------------------------------------------

    def _pick(self, items: Sequence[Any], cum: Sequence[float]) -> Any:
        return items[min(bisect.bisect_right(cum, self.rng.random()), len(items) - 1)]

    def _text(self, key: str, unit: str | None = None) -> str:
        options = self.config[key]
        if isinstance(options, dict):
            options = options.get(unit or "", options["default"])
        return str(self.rng.choice(options))

    def _hours(self, median: float, sigma: float = 0.9) -> timedelta:
        return timedelta(hours=median * math.exp(self.rng.gauss(0.0, sigma)))

    def _ward_of(self, text: str) -> tuple[str, str] | None:
        from nlp.gazetteer import detect_ward

        if not self.ward_list:
            return None
        named = detect_ward(text)
        ward = self.wards.get(named.code) if named is not None else None
        if ward is None:
            ward = self._pick(self.ward_list, self.ward_cum)
        return ward.code, ward.full_name

    def _staff(self, unit: str) -> lc.Actor:
        name = f"Cán bộ {self.names.get(unit, unit)}"[:200]
        return lc.Actor(lc.ActorKind.STAFF, id=f"demo-{unit}", name=name, unit=unit)

    # --- one complaint ----------------------------------------------------------------------

    def play(self, received: datetime, scenario: str | None = None) -> _Played:
        rng = self.rng
        label = self._pick(self.labels, self.label_cum)
        text = rng.choice(self.corpus[label])
        ward = None
        final = label
        if label == WARD_PARENT:
            ward = self._ward_of(text)
            final = TRIAGE_UNIT if ward is None else ward[0]
        elif rng.random() < self.shares["ward_named"]:
            ward = self._ward_of(text)
        anonymous = scenario == "feedback" or (
            scenario is None and rng.random() < self.shares["feedback"]
        )
        triage = self.has_triage and (
            scenario == "triage_waiting"
            or (scenario is None and rng.random() < self.shares["triage"])
        )
        if final == TRIAGE_UNIT:
            triage = False
        misrouted = (
            not triage
            and scenario is None
            and label != INSPECTORATE
            and rng.random() < self.shares["misrouted"]
        )
        track = lc.Track.KHIEU_NAI if label == INSPECTORATE else lc.Track.PAKN
        if triage:
            guess = rng.choice(self.labels)
            confidence = round(rng.uniform(0.2, 0.49), 4)
            routing = lc.Routing(TRIAGE_UNIT, confidence, guess, True, track)
        elif misrouted:
            wrong = rng.choice([code for code in self.labels if code not in (label, WARD_PARENT)])
            confidence = round(rng.uniform(0.5, 0.7), 4)
            routing = lc.Routing(wrong, confidence, wrong, False, track)
        else:
            confidence = round(rng.uniform(0.55, 0.99), 4)
            routing = lc.Routing(final, confidence, label, False, track)
        runner = rng.choice([code for code in self.labels if code != routing.predicted_unit])
        candidates = [
            [routing.predicted_unit, confidence],
            [runner, round((1 - confidence) * rng.uniform(0.4, 0.8), 4)],
        ]
        c, entry, _ = lc.submit(routing, received, self.policy, anonymous=anonymous)
        p = _Played(
            c=c,
            label=label,
            text=text,
            channel=None if anonymous else self._pick(*_CHANNELS),
            ward=ward,
            routed_automatically=not routing.triage,
            confidence=confidence,
            candidates=candidates,
            history=[entry],
        )
        if not anonymous:
            self._route(p, routing, final, scenario)
            self._tick(p, self.now)  # the scheduler's passes until now
        return p

    def _route(self, p: _Played, routing: lc.Routing, final: str, scenario: str | None) -> None:
        """From the unit the complaint was first sent to, to the one that handles it."""
        t = p.c.received_at
        if routing.triage:
            # triage_waiting: the desk has not routed it yet (the transfer would be after now).
            t += timedelta(days=30) if scenario == "triage_waiting" else self._hours(1.5, 1.0)
            note = self._text("triage_notes")
            if not self._act(p, t, self._staff(TRIAGE_UNIT), lc.Transfer(final, note)):
                return
        elif routing.unit != final:  # misrouted: the wrong unit transfers it
            wrong_staff = self._staff(routing.unit)
            if self.rng.random() < self.shares["accept_then_transfer"]:
                t += self._hours(6)
                if not self._act(p, t, wrong_staff, lc.Accept()):
                    return
            t += self._hours(18)
            reason = self._text("transfer_reasons")
            if not self._act(p, t, wrong_staff, lc.Transfer(final, reason)):
                return
        self._handle(p, t, final, scenario)

    def _handle(self, p: _Played, start: datetime, unit: str, scenario: str | None) -> None:
        rng, shares = self.rng, self.shares
        profile = self.profiles.get(p.label) or self.profiles[self.labels[0]]
        staff = self._staff(unit)
        if scenario is None and rng.random() < shares["reject"]:
            at = start + self._hours(20, 0.7)
            self._act(p, at, staff, lc.Reject(self._text("reject_guidance")))
            return
        answered = self._work(p, start, unit, profile, scenario, first=True)
        if answered is None:
            return
        on_time = answered <= p.c.due_at
        reopen_at: datetime | None = None
        if scenario == "reopened_open" or rng.random() < shares["rated"]:
            rated_at = answered + timedelta(hours=rng.uniform(0.5, 60))
            satisfied = rng.random() < profile.satisfied - (0.0 if on_time else 0.35)
            if scenario == "reopened_open":
                satisfied = False
            reason = "" if satisfied else self._text("unsatisfied_reasons")
            if not self._act(p, rated_at, lc.CITIZEN, lc.Rate(satisfied, reason)):
                return
            if not satisfied and (
                scenario == "reopened_open" or rng.random() < shares["reopen_unsatisfied"]
            ):
                reopen_at = rated_at + timedelta(hours=rng.uniform(1, 24))
        elif rng.random() < shares["reopen_unrated"]:
            reopen_at = answered + timedelta(hours=rng.uniform(12, 140))
        if reopen_at is None or reopen_at - answered > timedelta(days=self.policy.reopen_days):
            return
        if not self._act(p, reopen_at, lc.CITIZEN, lc.Reopen(self._text("reopen_reasons"))):
            return
        if scenario == "reopened_open":
            return  # the unit has not taken it up again yet
        again = self._work(p, reopen_at, unit, profile, None, first=False)
        if again is not None and rng.random() < shares["rated"] * 0.7:
            on_time = again <= p.c.due_at
            satisfied = rng.random() < profile.satisfied - (0.1 if on_time else 0.45)
            reason = "" if satisfied else self._text("unsatisfied_reasons")
            at = again + timedelta(hours=rng.uniform(1, 48))
            self._act(p, at, lc.CITIZEN, lc.Rate(satisfied, reason))

    def _work(
        self,
        p: _Played,
        start: datetime,
        unit: str,
        profile: _Profile,
        scenario: str | None,
        *,
        first: bool,
    ) -> datetime | None:
        """Accept, maybe ask for information, answer: the answer's time, or None when the
        complaint stays open (not yet done at `now`, or never)."""
        rng, shares = self.rng, self.shares
        staff = self._staff(unit)
        at = start + self._hours(profile.accept_hours)
        if scenario == "recent_routed":
            at = self.now + timedelta(hours=1)
        if not self._act(p, at, staff, lc.Accept()):
            return None
        if scenario == "info_waiting" or (
            first and scenario is None and rng.random() < shares["request_info"]
        ):
            at += timedelta(hours=rng.uniform(2, 40))
            if not self._act(p, at, staff, lc.RequestInfo(self._text("info_questions"))):
                return None
            if scenario == "info_waiting":
                return None
            if rng.random() < shares["info_never"]:
                # No reply: recent ones still wait; older ones were answered on what was known.
                if self.now - p.c.received_at < _STILL_WAITING:
                    return None
                at += timedelta(days=rng.uniform(3, 12))
            else:
                at += timedelta(hours=rng.uniform(2, 60))
                reply = lc.ProvideInfo(self._text("info_replies"))
                if not self._act(p, at, lc.CITIZEN, reply):
                    return None
        due = p.c.due_at
        stuck = scenario is None and rng.random() < shares["stuck"]
        if scenario == "overdue_open" or (stuck and self.now - p.c.received_at < _STILL_WAITING):
            return None  # the unit has not answered (the scheduler escalates it)
        if scenario == "reopened_open":  # answered quickly, so the reopening fits before now
            answer_at = at + timedelta(hours=rng.uniform(4, 36))
        elif stuck:  # an older forgotten complaint, answered long after its due date
            answer_at = max(at, due) + timedelta(days=rng.uniform(5, 40))
        elif rng.random() < profile.late:
            answer_at = max(at, due) + timedelta(hours=1 + rng.expovariate(1 / 70))
        else:
            room = max((due - at).total_seconds() - 3600, 3600.0)
            answer_at = at + timedelta(seconds=max(1800.0, room * rng.random() ** 1.7))
        text = self._text("answers", p.label)
        if not self._act(p, answer_at, staff, lc.Answer(text)):
            return None
        p.answer_text = text
        return answer_at

    # --- the rules ---------------------------------------------------------------------------

    def _act(self, p: _Played, at: datetime, actor: lc.Actor, event: lc.Event) -> bool:
        """Apply `event` at `at` through the lifecycle (the scheduler's events due before it
        first); False, changing nothing more, when `at` is after `now`."""
        if p.stopped or at > self.now:
            p.stopped = True
            self._tick(p, self.now)
            return False
        at = max(at, p.history[-1].at + timedelta(seconds=1))
        self._tick(p, at)
        self._apply(p, at, actor, event)
        return True

    def _apply(self, p: _Played, at: datetime, actor: lc.Actor, event: lc.Event) -> None:
        change = lc.apply(p.c, event, actor, at, self.policy)
        p.c = change.complaint
        p.history.append(change.history)
        p.learn += [(at, example) for example in change.learn]
        if p.c.status is lc.Status.RATED and p.rated_at is None:
            p.rated_at = at

    def _tick(self, p: _Played, until: datetime) -> None:
        """The scheduler's passes up to `until`: reminders, escalations, triage alarms."""
        for _ in range(10):
            check = lc.next_check(p.c, self.policy)
            if check is None or check > until:
                return
            events = lc.due_events(p.c, check, self.policy)
            if not events:
                return
            for event in events:
                self._apply(p, check, lc.SYSTEM, event)


_CHANNELS = ([c for c, _ in CHANNELS], (0.45, 0.85, 1.0))


def _cum(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    out, running = [], 0.0
    for w in weights:
        running += w / total
        out.append(running)
    return out


# Scenarios forced on a few complaints so that every state shows in a small demo.
_SCENARIOS: tuple[tuple[str, float, float], ...] = (
    # (scenario, received from … to … days ago)
    ("triage_waiting", 0.1, 0.8),
    ("recent_routed", 0.2, 1.5),
    ("info_waiting", 3.0, 8.0),
    ("overdue_open", 14.0, 40.0),
    ("reopened_open", 8.0, 12.0),
    ("feedback", 1.0, 30.0),
)


def seed_complaints(
    engine: Engine,
    *,
    complaints: int,
    seed: int = 1,
    now: datetime | None = None,
    catalogue: Catalogue | None = None,
    config_path: Path | None = None,
) -> ComplaintSeedResult:
    """Play `complaints` complaints over the 12 months before `now` and store them (rows,
    history, routing examples, the year's sequence) in one transaction."""
    if complaints < 0:
        raise ValueError("the number of complaints cannot be negative")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    result = ComplaintSeedResult()
    if complaints == 0:
        return result
    from nlp.pii import mask_pii

    config = load_demo_config(config_path)
    corpus = load_corpus()
    rng = random.Random(seed * 7919 + 17)
    with session_scope(engine) as session:
        upsert_catalogue(session, catalogue or load_catalogue())
        unit_rows = session.execute(select(Unit.id, Unit.code, Unit.name))  # type: ignore[call-overload]
        units = {code: (uid, name) for uid, code, name in unit_rows}
        sim = _Simulator(
            rng,
            now,
            config,
            corpus,
            set(units),
            {code: name for code, (_, name) in units.items()},
        )
        if not sim.labels:
            return result
        # Arrival times: the forced scenarios first, then uniform over the year, at local
        # daytime hours mostly (06:00-23:00 in Ho Chi Minh City = 23:00-16:00 UTC).
        plans: list[tuple[datetime, str | None]] = []
        forced = max(1, complaints // 150)
        for name, low, high in _SCENARIOS:
            for _ in range(forced):
                if len(plans) < complaints:
                    plans.append((now - timedelta(days=rng.uniform(low, high)), name))
        while len(plans) < complaints:
            day = now - timedelta(days=rng.uniform(0.0, 365.0))
            local_hour = rng.triangular(6.0, 23.0, 10.0)
            at = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
                hours=local_hour - 7.0
            )
            if at > now:
                at -= timedelta(days=1)
            plans.append((at + timedelta(seconds=rng.uniform(0, 59)), None))
        plans.sort(key=lambda plan: plan[0])
        played = [sim.play(at, scenario) for at, scenario in plans]

        # Codes per local year, in order of receipt, after the numbers already used.
        sequences: dict[int, ComplaintSequence] = {}
        rows: list[Complaint] = []
        run = secrets.token_hex(4)  # keys stay unique when the demo runs again
        for i, p in enumerate(played):
            c = p.c
            unit_id = units[c.unit][0]
            masked = mask_pii(p.text)
            row = Complaint(
                key=f"demo-{run}-{i}",
                status=c.status.value,
                track=c.track.value,
                anonymous=c.anonymous,
                origin="demo",
                unit_id=unit_id,
                units_involved=list(c.units_involved),
                predicted_unit=c.predicted_unit,
                confidence=p.confidence,
                candidates=p.candidates,
                routed_automatically=p.routed_automatically,
                ward_code=p.ward[0] if p.ward else None,
                ward_name=p.ward[1] if p.ward else None,
                text=masked,
                masked_text=masked,
                answer_text=p.answer_text,
                channel=p.channel,
                received_at=c.received_at,
                due_at=c.due_at,
                accepted_at=c.accepted_at,
                answered_at=c.answered_at,
                closed_at=c.closed_at,
                rated_at=p.rated_at,
                satisfied=c.satisfied,
                reopened=c.reopened,
                transfers=c.transfers,
                reminded=c.reminded,
                escalated=c.escalated,
                triage_alarmed=c.triage_alarmed,
                next_check_at=lc.next_check(c, sim.policy),
                version=len(p.history) - 1,
                updated_at=p.history[-1].at,
            )
            if not c.anonymous:
                year = c.received_at.astimezone(sim.policy.tz).year
                sequence = sequences.get(year)
                if sequence is None:
                    sequence = session.get(ComplaintSequence, year, with_for_update=True)
                    sequence = sequence or ComplaintSequence(year=year, last=0)
                    sequences[year] = sequence
                sequence.last += 1
                row.year, row.seq = year, sequence.last
                row.code = f"PA-{year:04d}-{sequence.last:06d}"
                if c.status in lc.OPEN:
                    names = config["contact_names"]
                    row.contact_name = names[sequence.last % len(names)]
                    row.contact_phone = f"0900000{sequence.last % 1000:03d}"
                result.complaints += 1
            else:
                result.feedback += 1
            result.by_status[c.status.value] = result.by_status.get(c.status.value, 0) + 1
            rows.append(row)
        example = _example(rows)
        if example is not None:
            example.channel, example.external_id = EXAMPLE_CHANNEL, EXAMPLE_CHAT
            result.example_code = example.code
        session.add_all(rows)
        session.add_all(sequences.values())
        session.flush()
        events: list[dict[str, Any]] = []
        examples: list[dict[str, Any]] = []
        for row, p in zip(rows, played, strict=True):
            for entry in p.history:
                events.append(
                    {
                        "complaint_id": row.id,
                        "at": entry.at,
                        "action": entry.action,
                        "actor_kind": entry.actor.kind.value,
                        "staff_id": None,
                        "actor_name": entry.actor.name[:200],
                        "from_status": entry.from_status.value if entry.from_status else None,
                        "to_status": entry.to_status.value,
                        "from_unit": entry.from_unit,
                        "to_unit": entry.to_unit,
                        "note": entry.note,
                    }
                )
            for at, learned in p.learn:
                examples.append(
                    {
                        "complaint_id": row.id,
                        "at": at,
                        "masked_text": row.masked_text,
                        "predicted_unit": learned.predicted_unit,
                        "final_unit": learned.final_unit,
                        "reason": learned.reason,
                    }
                )
        if events:
            session.execute(insert(table(ComplaintEvent)), events)
        if examples:
            session.execute(insert(table(RoutingExample)), examples)
        result.events = len(events)
    return result


def _example(rows: Sequence[Complaint]) -> Complaint | None:
    """The complaint to follow in the demo chat: the latest accepted (or routed) one, so the
    chat has no question or rating waiting for an answer."""
    for wanted in (lc.Status.ACCEPTED, lc.Status.ROUTED):
        for row in reversed(rows):
            if row.status == wanted.value and row.code:
                return row
    return None
