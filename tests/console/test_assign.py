"""A unit lead gives a complaint to one of the unit's staff (issue 15: "reassignment inside the
unit"): the rule (`complaints.lifecycle.assign`) on its own, then through the console on both
databases: the lead assigns, plain staff are refused, another unit gets 404, an assignee of
another unit is refused, a transfer clears it, a closed complaint keeps it, and the inbox's
«Giao cho tôi» filter."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from complaints import lifecycle as lc
from console import labels as t
from storage.db import session_scope
from storage.models import AuditLog, Complaint, ComplaintEvent, Staff
from tests.console.conftest import add_login, csrf_for, seed, signed_in

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- the rule -----------------------------------------------------------------------------------


def complaint(status: lc.Status = lc.Status.ACCEPTED, unit: str = "SXD") -> lc.Complaint:
    return lc.Complaint(status, unit, lc.Track.PAKN, NOW, NOW, code="PA-2026-000001")


def actor(role: lc.Role, unit: str | None = "SXD", active: bool = True) -> lc.Actor:
    return lc.Actor(
        lc.ActorKind.STAFF, id="1", name="Lãnh đạo", unit=unit, role=role, active=active
    )


def person(
    unit: str | None = "SXD", role: lc.Role = lc.Role.STAFF, active: bool = True
) -> lc.Assignee:
    return lc.Assignee("2", "Cán bộ Bình", unit, role, active)


def refusal(c: lc.Complaint, who: lc.Actor, to: lc.Assignee | None) -> lc.Refusal | None:
    try:
        lc.assign(c, to, who, NOW)
    except lc.Refused as exc:
        return exc.reason
    return None


def test_the_rule_a_lead_or_admin_of_the_unit_gives_it_to_active_staff_of_the_unit() -> None:
    lead, c = actor(lc.Role.LEAD), complaint()
    change = lc.assign(c, person(), lead, NOW)
    assert change.complaint.assignee == "2" and change.complaint.status is c.status
    assert change.history.action == "assign" and change.history.note == "Cán bộ Bình"
    assert change.notices == [] and change.card_changed  # the card names the assignee
    assert lc.assign(change.complaint, None, lead, NOW).history.action == "unassign"
    assert refusal(c, actor(lc.Role.ADMIN, unit="SONV"), person()) is None  # admins: any unit
    assert refusal(c, lead, person(role=lc.Role.LEAD)) is None  # a lead may take it
    assert refusal(c, actor(lc.Role.STAFF), person()) is lc.Refusal.NOT_LEAD
    assert refusal(c, actor(lc.Role.ANALYST), person()) is lc.Refusal.NOT_STAFF
    assert refusal(c, actor(lc.Role.LEAD, unit="SNNMT"), person()) is lc.Refusal.WRONG_UNIT
    assert refusal(c, actor(lc.Role.LEAD, active=False), person()) is lc.Refusal.INACTIVE
    assert refusal(c, lead, person(unit="SNNMT")) is lc.Refusal.BAD_ASSIGNEE
    assert refusal(c, lead, person(unit=None)) is lc.Refusal.BAD_ASSIGNEE
    assert refusal(c, lead, person(active=False)) is lc.Refusal.BAD_ASSIGNEE
    assert refusal(c, lead, person(role=lc.Role.ANALYST)) is lc.Refusal.BAD_ASSIGNEE
    for status in lc.Status:
        expected = None if status in lc.OPEN else lc.Refusal.STATE
        assert refusal(complaint(status), lead, person()) is expected, status


def test_the_rule_a_transfer_clears_the_assignee_other_actions_keep_it() -> None:
    lead = actor(lc.Role.LEAD)
    given = lc.assign(complaint(lc.Status.ROUTED), person(), lead, NOW).complaint
    policy = lc.Policy()
    accepted = lc.apply(given, lc.Accept(), lead, NOW, policy).complaint
    assert accepted.assignee == "2"
    answered = lc.apply(accepted, lc.Answer("Đã sửa."), lead, NOW, policy).complaint
    assert answered.assignee == "2"  # kept on the closed complaint, as a record
    moved = lc.apply(accepted, lc.Transfer("SNNMT", "Không thuộc Sở"), lead, NOW, policy)
    assert moved.complaint.unit == "SNNMT" and moved.complaint.assignee is None


# --- through the console (SQLite and PostgreSQL) ----------------------------------------------


def assign(client: TestClient, cid: int, staff: int | str | None) -> Any:
    token = csrf_for(client, f"/console/c/{cid}")
    data = {"csrf": token, "staff": "" if staff is None else str(staff)}
    return client.post(f"/console/c/{cid}/assign", data=data)


def assignee_of(engine: Engine, cid: int) -> int | None:
    with engine.connect() as conn:
        query = sa.select(Complaint.assignee_id).where(Complaint.id == cid)  # type: ignore[call-overload]
        value = conn.execute(query).scalar_one()
        return None if value is None else int(value)


def history(engine: Engine, cid: int) -> list[tuple[str, str, str, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(  # type: ignore[call-overload]
                ComplaintEvent.action,
                ComplaintEvent.actor_name,
                ComplaintEvent.note,
                ComplaintEvent.staff_id,
            )
            .where(ComplaintEvent.complaint_id == cid)
            .order_by(ComplaintEvent.id)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def audit(engine: Engine, action: str) -> list[tuple[str, str | None, dict[str, object]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditLog.actor, AuditLog.subject, AuditLog.detail)  # type: ignore[call-overload]
            .where(AuditLog.action == action)
            .order_by(AuditLog.id)
        )
        return [(r[0], r[1], dict(r[2])) for r in rows]


@pytest.fixture
def unit_people(db: Engine) -> dict[str, int]:
    return {
        "lead": add_login(db, "lan@sxd.gov.vn", role="lead", name="Lãnh đạo Lan"),
        "binh": add_login(db, "binh@sxd.gov.vn", name="Cán bộ Bình"),
        "chau": add_login(db, "chau@sxd.gov.vn", name="Cán bộ <Châu>"),
        "other": add_login(db, "dung@snnmt.gov.vn", unit="SNNMT", name="Cán bộ Dũng"),
        "other_lead": add_login(db, "em@snnmt.gov.vn", unit="SNNMT", role="lead"),
    }


def test_the_lead_assigns_and_the_page_history_and_audit_say_so(
    db: Engine, unit_people: dict[str, int]
) -> None:
    c = seed(db)
    lead = signed_in(db, "lan@sxd.gov.vn")
    page = lead.get(f"/console/c/{c.id}")
    assert page.status_code == 200 and t.UNASSIGNED in page.text
    form = page.text.split(f'action="/console/c/{c.id}/assign"')[1].split("</form>")[0]
    # The unit's active staff only, names escaped; not the other unit's.
    assert "Cán bộ Bình" in form and html.escape("Cán bộ <Châu>") in form
    assert "<Châu>" not in page.text and "Cán bộ Dũng" not in form
    done = assign(lead, c.id, unit_people["binh"])
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/console/c/{c.id}?ok=assign"
    assert assignee_of(db, c.id) == unit_people["binh"]
    after = lead.get(f"/console/c/{c.id}?ok=assign")
    assert '<dd class="assignee">Cán bộ Bình</dd>' in after.text
    assert t.HISTORY_ACTIONS["assign"] in after.text
    assert history(db, c.id)[-1] == ("assign", "Lãnh đạo Lan", "Cán bộ Bình", unit_people["lead"])
    assert audit(db, "complaint.assign") == [
        (f"staff:{unit_people['lead']}", c.code, {"assignee": f"staff:{unit_people['binh']}"})
    ]
    # The same choice again is no new history row; another staff member is; nobody too.
    assert assign(lead, c.id, unit_people["binh"]).status_code == 303
    assert len(history(db, c.id)) == 2
    assign(lead, c.id, unit_people["chau"])
    assert assignee_of(db, c.id) == unit_people["chau"]
    assign(lead, c.id, None)
    assert assignee_of(db, c.id) is None
    assert [h[0] for h in history(db, c.id)] == ["submit", "assign", "assign", "unassign"]
    assert audit(db, "complaint.unassign")[-1][2] == {"assignee": None}


def test_plain_staff_another_unit_and_foreign_assignees_are_refused(
    db: Engine, unit_people: dict[str, int]
) -> None:
    c = seed(db)
    # A plain staff member of the unit: no form, and a forged post is refused (403).
    staff = signed_in(db, "binh@sxd.gov.vn")
    page = staff.get(f"/console/c/{c.id}")
    assert page.status_code == 200 and "/assign" not in page.text
    refused = assign(staff, c.id, unit_people["binh"])
    assert refused.status_code == 403
    assert t.ASSIGN_REFUSED["not_lead"] in refused.text
    # Another unit's lead: 404, logged, as for every other action.
    other = signed_in(db, "em@snnmt.gov.vn")
    token = csrf_for(other)
    probe = other.post(f"/console/c/{c.id}/assign", data={"csrf": token, "staff": "1"})
    assert probe.status_code == 404
    assert any(s == f"complaint:{c.id}" for _, s, _ in audit(db, "console.denied"))
    # The unit's lead: an assignee of another unit, inactive, or unknown is refused (409).
    lead = signed_in(db, "lan@sxd.gov.vn")
    with session_scope(db) as session:
        gone = session.get(Staff, unit_people["chau"])
        assert gone is not None
        gone.active = False
        session.add(gone)
    for target in (unit_people["other"], unit_people["chau"], 999_999, "x"):
        answer = assign(lead, c.id, target)
        assert answer.status_code == 409, target
        assert t.ASSIGN_REFUSED["bad_assignee"] in answer.text
    assert "Cán bộ &lt;Châu&gt;" not in lead.get(f"/console/c/{c.id}").text.split("/assign")[1]
    assert assignee_of(db, c.id) is None and [h[0] for h in history(db, c.id)] == ["submit"]
    reasons = [d["reason"] for _, _, d in audit(db, "complaint.refused")]
    assert reasons == ["not_lead"] + ["bad_assignee"] * 4


def test_a_transfer_clears_the_assignee_and_a_closed_complaint_cannot_be_reassigned(
    db: Engine, unit_people: dict[str, int]
) -> None:
    moved, closed = seed(db, chat="8101"), seed(db, chat="8102")
    lead = signed_in(db, "lan@sxd.gov.vn")
    for c in (moved, closed):
        assert assign(lead, c.id, unit_people["binh"]).status_code == 303
    token = csrf_for(lead, f"/console/c/{moved.id}")
    data = {"action": "transfer", "unit": "SNNMT", "text": "Thuộc Sở NN&MT", "csrf": token}
    assert lead.post(f"/console/c/{moved.id}/act", data=data).status_code == 303
    assert assignee_of(db, moved.id) is None
    # The new unit's lead sees it unassigned and may give it to their own staff.
    other_lead = signed_in(db, "em@snnmt.gov.vn")
    assert t.UNASSIGNED in other_lead.get(f"/console/c/{moved.id}").text
    assert assign(other_lead, moved.id, unit_people["other"]).status_code == 303
    assert assignee_of(db, moved.id) == unit_people["other"]
    # Answered (closed): the assignee stays, as a record, and cannot be changed.
    token = csrf_for(lead, f"/console/c/{closed.id}")
    data = {"action": "answer", "text": "Đã vá ổ gà.", "csrf": token}
    assert lead.post(f"/console/c/{closed.id}/act", data=data).status_code == 303
    page = lead.get(f"/console/c/{closed.id}")
    assert '<dd class="assignee">Cán bộ Bình</dd>' in page.text and "/assign" not in page.text
    again = assign(lead, closed.id, unit_people["chau"])
    assert again.status_code == 409
    assert assignee_of(db, closed.id) == unit_people["binh"]


def test_the_inbox_filters_what_is_assigned_to_me_and_shows_the_assignee(
    db: Engine, unit_people: dict[str, int]
) -> None:
    mine, theirs, nobodys = seed(db, chat="8201"), seed(db, chat="8202"), seed(db, chat="8203")
    elsewhere = seed(db, unit="SNNMT", chat="8204")
    lead = signed_in(db, "lan@sxd.gov.vn")
    assign(lead, mine.id, unit_people["binh"])
    assign(lead, theirs.id, unit_people["chau"])
    assign(signed_in(db, "em@snnmt.gov.vn"), elsewhere.id, unit_people["other"])
    binh = signed_in(db, "binh@sxd.gov.vn")
    everything = binh.get("/console")
    assert all(c.code in everything.text for c in (mine, theirs, nobodys))
    cell = f'<td data-label="{t.COL_ASSIGNEE}" class="assignee">'
    assert f"{cell}Cán bộ Bình</td>" in everything.text
    assert f"{cell}{html.escape('Cán bộ <Châu>')}</td>" in everything.text
    assert f"{cell}—</td>" in everything.text
    only = binh.get("/console", params={"mine": "1"})
    assert only.status_code == 200 and 'name="mine" value="1" checked' in only.text
    assert mine.code in only.text
    assert theirs.code not in only.text and nobodys.code not in only.text
    assert elsewhere.code not in only.text
    # htmx swaps the table alone; the filter combines with the others.
    part = binh.get(
        "/console", params={"mine": "1", "status": "closed"}, headers={"HX-Request": "true"}
    )
    assert part.text.lstrip().startswith('<div id="inbox-table">') and mine.code not in part.text
    assert mine.code not in signed_in(db, "chau@sxd.gov.vn").get("/console?mine=1").text


def test_an_assignee_deactivated_or_moved_to_another_unit_gives_back_open_complaints(
    db: Engine, unit_people: dict[str, int]
) -> None:
    from storage.admin import set_active
    from storage.complaints import add_staff

    mine, theirs, closed = seed(db, chat="8301"), seed(db, chat="8302"), seed(db, chat="8303")
    lead = signed_in(db, "lan@sxd.gov.vn")
    for c, who in ((mine, "binh"), (theirs, "chau"), (closed, "binh")):
        assert assign(lead, c.id, unit_people[who]).status_code == 303
    token = csrf_for(lead, f"/console/c/{closed.id}")
    data = {"action": "answer", "text": "Đã vá ổ gà.", "csrf": token}
    assert lead.post(f"/console/c/{closed.id}/act", data=data).status_code == 303
    with session_scope(db) as session:  # Bình's account is deactivated (admin or CLI)
        set_active(session, unit_people["binh"], False, "staff:1")
    assert assignee_of(db, mine.id) is None
    assert history(db, mine.id)[-1][0] == "unassign"
    assert history(db, mine.id)[-1][3] is None  # by the system, not a person
    assert assignee_of(db, closed.id) == unit_people["binh"]  # closed: kept, as a record
    with session_scope(db) as session:  # reactivated: nothing comes back by itself
        set_active(session, unit_people["binh"], True, "staff:1")
    assert assignee_of(db, mine.id) is None
    with session_scope(db) as session:  # Châu moves to another unit
        add_staff(
            session, name="Cán bộ <Châu>", unit_code="SNNMT", role="staff", telegram_id=None,
            email="chau@sxd.gov.vn",
        )  # fmt: skip
    assert assignee_of(db, theirs.id) is None
    assert [h[0] for h in history(db, theirs.id)][-1] == "unassign"
    # The unit's lead sees both unassigned again.
    assert t.UNASSIGNED in lead.get(f"/console/c/{mine.id}").text


def card_edits(engine: Engine, group: int, message_id: int) -> list[str]:
    """The texts of the card edits queued for `group`'s card `message_id`, oldest first."""
    from storage.models import OutboxMessage

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(OutboxMessage.payload)  # type: ignore[call-overload]
            .where(OutboxMessage.recipient == str(group))
            .order_by(OutboxMessage.id)
        )
        return [str(p["text"]) for (p,) in rows if p.get("edit_message_id") == message_id]


def test_the_units_telegram_card_names_the_assignee_and_is_redrawn_when_it_changes(
    db: Engine, unit_people: dict[str, int]
) -> None:
    """Assigned in the console, the card in the unit's Telegram group is edited to name the
    assignee; deactivated (console) or moved (CLI), the cards they held are edited again."""
    from bot import messages as msg
    from tests.console.test_actions import GROUP, link_group

    link_group(db)
    held, other = seed(db, chat="8401"), seed(db, chat="8402")
    with session_scope(db) as session:
        from storage.complaints import remember_card

        remember_card(session, held.id, GROUP, 501)
        remember_card(session, other.id, GROUP, 502)
    lead = signed_in(db, "lan@sxd.gov.vn")
    named = msg.CARD_ASSIGNEE.format(name="Cán bộ Bình")
    assert assign(lead, held.id, unit_people["binh"]).status_code == 303
    edits = card_edits(db, GROUP, 501)
    assert len(edits) == 1 and named in edits[0]
    assert msg.ACTION_LABELS["assign"] in edits[0] and "Lãnh đạo Lan" in edits[0]
    assert card_edits(db, GROUP, 502) == []  # another complaint's card is left alone
    # Deactivated by an admin in the console: the card no longer names them.
    admin = add_login(db, "admin@hcm.gov.vn", role="admin", unit=None, name="Quản trị")
    assert admin
    client = signed_in(db, "admin@hcm.gov.vn")
    token = csrf_for(client, "/console/admin/staff")
    answer = client.post(
        f"/console/admin/staff/{unit_people['binh']}/active", data={"active": "0", "csrf": token}
    )
    assert answer.status_code == 200, answer.text
    edits = card_edits(db, GROUP, 501)
    assert len(edits) == 2 and named not in edits[1]
    assert msg.ACTION_LABELS["unassign"] in edits[1]
    # Moved to another unit by the CLI (`hailong staff add` again): the same.
    assert assign(lead, other.id, unit_people["chau"]).status_code == 303
    assert msg.CARD_ASSIGNEE.format(name="Cán bộ <Châu>") in card_edits(db, GROUP, 502)[0]
    from tests.test_cli import hailong

    result = hailong(
        "staff", "add", "--name", "Cán bộ Châu", "--unit", "SNNMT", "--role", "staff",
        "--email", "chau@sxd.gov.vn", "--password-stdin",
        db=db.url.render_as_string(hide_password=False), stdin="a long enough password\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    edits = card_edits(db, GROUP, 502)
    assert len(edits) == 2 and "Châu" not in edits[1].split("———")[0]
