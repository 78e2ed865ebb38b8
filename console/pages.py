"""The console's pages: sign-in, the unit inbox, a complaint's page and its actions.

    GET  /console/login ──POST (CSRF, throttle, Argon2)──▶ session cookie ──▶ /console
    GET  /console            the inbox (htmx: the table alone, on a filter or a page)
    GET  /console/c/{id}     a complaint: masked text, photos, location, history, router
    POST /console/c/{id}/act accept | transfer | request_info | answer | reject
                             ──▶ bot.desk.act: the same rules as the Telegram cards
    POST /console/c/{id}/contact   name and phone, audit-logged
    POST /console/c/{id}/assign    a lead gives it to one of the unit's staff
                             ──▶ complaints.lifecycle.assign (who may, to whom)

Staff and leads see their unit's complaints only (another unit's: 404, logged); analysts
never reach a complaint. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from base.settings import Settings
from bot import messages as msg
from bot.desk import ComplaintDesk, store_outbox
from bot.engine.complaint import local_day, ward_by_code
from complaints import lifecycle as lc
from console import labels as t
from console.auth import ConsoleUser, allow, current_user
from console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Sessions, verify_password
from nlp.pii import mask_pii
from storage import complaints as store
from storage import console as queries
from storage.db import session_scope
from storage.models import Complaint
from storage.types import utcnow

log = logging.getLogger(__name__)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)
UNIT_ROLES = ("staff", "lead", "admin")
STAFF_ACTIONS = ("accept", "transfer", "request_info", "answer", "reject")
ATTEMPTS = 5  # an action redone when another committed first on the same complaint


@dataclass
class ConsoleState:
    """What the console's routes share, kept on `app.state.console`."""

    settings: Settings
    engine: Engine
    desk: ComplaintDesk
    sessions: Sessions | None  # None: no key configured, nobody can sign in
    secure: bool  # cookies marked Secure (PUBLIC_BASE_URL is https)
    dashboard: bool = False  # the analysts' dashboard is installed


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def local_path(next_: str | None) -> str:
    """Where to go after signing in: a console path of this site only, never elsewhere."""
    if not next_ or not next_.startswith("/console") or "\\" in next_:
        return "/console"
    parts = urlsplit(next_)
    if parts.scheme or parts.netloc or next_.startswith("//"):
        return "/console"
    return next_


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    base: dict[str, Any] = {"t": t, "msg": msg}
    session = getattr(request.state, "console_session", None)
    state = state_of(request)
    if session is not None and state.sessions is not None:
        base["csrf"] = state.sessions.csrf(session)
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def _cookie(response: Response, state: ConsoleState, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=state.secure,
    )


# --- sign-in ------------------------------------------------------------------------------------


def _login_page(
    request: Request, next_: str, error: str = "", status: int = 200, email: str = ""
) -> Response:
    state = state_of(request)
    if state.sessions is None:
        return render(request, "login.html", {"error": t.LOGIN_UNCONFIGURED}, 503)
    nonce, token = state.sessions.login_nonce()
    context = {"login_token": token, "next": local_path(next_), "error": error, "email": email}
    response = render(request, "login.html", context, status)
    _cookie(response, state, LOGIN_COOKIE, nonce, 3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/console") -> Response:
    return _login_page(request, next)


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    state = state_of(request)
    if state.sessions is None:
        return _login_page(request, next)
    address, email = client_address(request), email.strip().lower()
    now = utcnow()
    if not state.sessions.login_ok(request.cookies.get(LOGIN_COOKIE), csrf):
        return _login_page(request, next, t.LOGIN_FORM_EXPIRED, 403, email)
    settings = state.settings
    window = timedelta(minutes=settings.console_login_window_minutes)
    with session_scope(state.engine) as db:
        by_account, by_address, oldest = queries.failed_logins(
            db, email=email, address=address, since=now - window
        )
        limit = settings.console_login_max_failures
        if by_account >= limit or by_address >= limit:
            wait = max(1, int(((oldest or now) + window - now).total_seconds()) + 1)
            store.audit(db, f"ip:{address}", "console.login_throttled", f"email:{email}", {}, now)
            response = _login_page(
                request, next, t.LOGIN_THROTTLED.format(minutes=-(-wait // 60)), 429, email
            )
            response.headers["Retry-After"] = str(wait)
            return response
        staff = queries.staff_by_email(db, email) if email else None
        ok = verify_password(staff.password_hash if staff else None, password)
        if staff is None or not ok or not staff.active or staff.id is None:
            store.audit(db, f"ip:{address}", queries.LOGIN_FAILED, f"email:{email}", {}, now)
            return _login_page(request, next, t.LOGIN_FAILED, 401, email)
        store.audit(db, f"staff:{staff.id}", "console.login", f"ip:{address}", {}, now)
        staff_id, password_hash, cut = staff.id, staff.password_hash, staff.sessions_valid_after
    # Outside the transaction: right after a cut the cookie waits for the cut's second.
    cookie = state.sessions.issue(staff_id, password_hash, not_before=cut)
    response = RedirectResponse(local_path(next), status_code=303)
    _cookie(response, state, SESSION_COOKIE, cookie, state.sessions.max_age)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


async def checked_form(
    request: Request, user: Annotated[ConsoleUser, Depends(current_user)]
) -> ConsoleUser:
    """The signed-in user of a POST whose form carries the session's CSRF token (403 else)."""
    state = state_of(request)
    form = await request.form()
    token = form.get("csrf")
    session = request.state.console_session
    if state.sessions is None or not state.sessions.csrf_ok(session, str(token or "")):
        with session_scope(state.engine) as db:
            store.audit(db, f"staff:{user.id}", "console.csrf_refused", request.url.path, {})
        raise CsrfRefused
    return user


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: 403, nothing done."""


FormUser = Annotated[ConsoleUser, Depends(checked_form)]
User = Annotated[ConsoleUser, Depends(current_user)]


@router.post("/logout")
def logout(request: Request, user: FormUser) -> Response:
    state = state_of(request)
    with session_scope(state.engine) as db:
        store.audit(db, f"staff:{user.id}", "console.logout", None, {})
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# --- the inbox ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    text: str
    level: str  # ok | soon (amber: within the reminder's lead) | late (red)


def countdown(row: Complaint, now: datetime, policy: lc.Policy) -> Countdown | None:
    """Time left to answer an open complaint; amber from `remind_before` (2 days), red past
    the due date. None once closed."""
    if lc.Status(row.status) not in lc.OPEN:
        return None
    left = row.due_at - now
    if left < timedelta(0):
        late = -left
        text = (
            t.COUNTDOWN_LATE.format(days=late.days)
            if late.days
            else t.COUNTDOWN_LATE_HOURS.format(hours=max(1, late.seconds // 3600))
        )
        return Countdown(text, "late")
    text = (
        t.COUNTDOWN_LEFT.format(days=left.days)
        if left.days
        else t.COUNTDOWN_LEFT_HOURS.format(hours=left.seconds // 3600)
    )
    return Countdown(text, "soon" if left <= policy.remind_before else "ok")


def wards() -> list[tuple[str, str]]:
    """(code, name) of the gazetteer's wards, for the filter (no query over complaints)."""
    return sorted(((w.code, w.full_name) for w in ward_by_code().values()), key=lambda w: w[1])


def _day(value: str, policy: lc.Policy, *, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=policy.tz)


def _inbox_scope(user: ConsoleUser) -> int | None:
    # Admins see every unit; staff and leads their own (a unit-less one sees nothing).
    if user.role == "admin":
        return None
    return user.unit_id if user.unit_id is not None else -1


@router.get("", response_class=HTMLResponse)
def inbox(
    request: Request,
    user: User,
    status: str = "",
    overdue: str = "",
    ward: str = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    done: str = "",
    q: str = "",
    mine: str = "",
    page: int = 1,
) -> Response:
    if user.role == "analyst" and state_of(request).dashboard:
        return RedirectResponse("/console/dashboard", status_code=303)
    allow(user, *UNIT_ROLES)
    state = state_of(request)
    policy = state.desk.policy
    known = {s.value for s in lc.Status} | {"open", "closed"}
    mine_only = mine == "1"
    scope = _inbox_scope(user)
    if mine_only and scope is None and user.unit_id is not None:
        scope = user.unit_id  # an assignee is of the complaint's unit: an admin's own
    f = queries.InboxFilter(
        unit_id=scope,
        status=status if status in known else "",
        overdue=overdue == "1",
        ward=ward[:64],
        since=_day(since, policy),
        until=_day(until, policy, end=True),
        text=q.strip()[:200],
        page=max(1, min(page, 100_000)),
        assignee_id=user.id if mine_only else None,
    )
    now = utcnow()
    with Session(state.engine) as db:
        found = queries.inbox(db, f, now)
        names = store.unit_names(db)
        units = store.all_units(db).by_id
        assignees = queries.staff_names(
            db, {r.assignee_id for r in found.rows if r.assignee_id is not None}
        )
        rows = [
            {
                "row": r,
                "status": msg.STATUS_LABELS.get(r.status, r.status),
                "unit": units[r.unit_id].name if r.unit_id in units else "",
                "received": local_day(r.received_at),
                "due": local_day(r.due_at),
                "countdown": countdown(r, now, policy),
                "assignee": assignees.get(r.assignee_id, "") if r.assignee_id else "",
                "text": r.masked_text[:160] + ("…" if len(r.masked_text) > 160 else ""),
            }
            for r in found.rows
        ]
    params = {
        "status": f.status,
        "overdue": "1" if f.overdue else "",
        "ward": f.ward,
        "from": since if f.since else "",
        "to": until if f.until else "",
        "q": f.text,
        "mine": "1" if mine_only else "",
    }
    kept = {k: v for k, v in params.items() if v}

    def page_url(n: int) -> str:
        return "/console?" + urlencode({**kept, "page": n})

    context = {
        "user": user,
        "rows": rows,
        "found": found,
        "params": params,
        "wards": wards(),
        "statuses": [
            (s.value, msg.STATUS_LABELS[s.value]) for s in lc.Status if s.value != "feedback"
        ],
        "unit_name": names.get(user.unit_code or "", t.INBOX_ALL_UNITS),
        "prev_url": page_url(found.page - 1) if found.page > 1 else None,
        "next_url": page_url(found.page + 1) if found.has_next else None,
        "all_units": f.unit_id is None,
        "notice": t.DONE.format(action=t.ACTION_BUTTONS[done]) if done in STAFF_ACTIONS else "",
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "_inbox_table.html", context)
    return render(request, "inbox.html", context)


# --- a complaint ------------------------------------------------------------------------------


class NotVisible(Exception):
    """Not a complaint this user may see: 404 (logged), whatever the reason."""


def visible(db: Session, user: ConsoleUser, complaint_id: int, request: Request) -> Complaint:
    """The complaint if the user may see it; else `NotVisible` after an audit row, so a
    probed id in a URL or a form leaves a trace."""
    allow(user, *UNIT_ROLES)
    row = db.get(Complaint, complaint_id)
    if (
        row is None
        or row.code is None  # anonymous feedback is counted, not handled
        or (user.role != "admin" and row.unit_id != user.unit_id)
    ):
        with session_scope(state_of(request).engine) as log_db:
            store.audit(
                log_db, f"staff:{user.id}", "console.denied", f"complaint:{complaint_id}", {}
            )
        raise NotVisible
    return row


def actor_of(user: ConsoleUser) -> lc.Actor:
    """The signed-in user as the rules see them: no group (`via_group` False)."""
    role = lc.Role(user.role) if user.role in {r.value for r in lc.Role} else lc.Role.STAFF
    return lc.Actor(
        lc.ActorKind.STAFF, id=str(user.id), name=user.name, unit=user.unit_code, role=role
    )


def _complaint_page(
    request: Request,
    user: ConsoleUser,
    complaint_id: int,
    *,
    notice: str = "",
    refused: str = "",
    contact: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    state = state_of(request)
    now = utcnow()
    with Session(state.engine) as db:
        row = visible(db, user, complaint_id, request)
        units = store.all_units(db)
        unit = units.by_id.get(row.unit_id)
        facts = store.facts(row, unit.code if unit else "")
        actor = actor_of(user)
        try:
            lc.check_assign(facts, actor)
            colleagues = queries.unit_staff(db, row.unit_id)
        except lc.Refused:
            colleagues = None  # no form: not a lead here, or closed
        assignee = queries.assignee(db, row.assignee_id) if row.assignee_id else None
        actions = []
        for action in STAFF_ACTIONS:
            try:
                lc.check(facts, action, actor)
            except lc.Refused:
                continue
            actions.append(action)
        targets = queries.transfer_targets(db, row) if "transfer" in actions else []
        events = [
            {
                "at": local_day(e.at, with_time=True),
                "action": t.HISTORY_ACTIONS.get(e.action)
                or msg.ACTION_LABELS.get(e.action, e.action),
                "who": e.actor_name or e.actor_kind,
                "status": msg.STATUS_LABELS.get(e.to_status, e.to_status),
                "units": f"{e.from_unit} → {e.to_unit}"
                if e.from_unit and e.from_unit != e.to_unit
                else "",
                # A citizen's own words may carry personal data: masked like the text.
                "note": mask_pii(e.note) if e.actor_kind == "citizen" else e.note,
            }
            for e in store.history(db, complaint_id)
        ]
        photos = [
            {"kind": kind, "index": i, "ref": ref if kind == "image" else ""}
            for i, (kind, ref) in enumerate(row.photos)
        ]
        names = {code: ref.name for code, ref in units.by_code.items()}
        context = {
            "user": user,
            "row": row,
            "status": msg.STATUS_LABELS.get(row.status, row.status),
            "unit": unit.name if unit else "",
            "received": local_day(row.received_at, with_time=True),
            "due": local_day(row.due_at),
            "countdown": countdown(row, now, state.desk.policy),
            "khieu_nai": row.track == lc.Track.KHIEU_NAI.value,
            "events": events,
            "photos": photos,
            "actions": actions,
            "targets": targets,
            "can_contact": _may_act(facts, actor),
            "assignee": assignee.name if assignee else "",
            "colleagues": colleagues,
            "contact": contact,
            "notice": notice,
            "refused": refused,
            "candidates": [(names.get(str(c), str(c)), float(p)) for c, p in row.candidates[:5]],
            "predicted": names.get(row.predicted_unit or "", row.predicted_unit or ""),
        }
    return render(request, "complaint.html", context, status)


def _may_act(facts: lc.Complaint, actor: lc.Actor) -> bool:
    """«Xem liên hệ»: the Telegram card's rule, active staff of the holding unit while open."""
    if facts.status not in lc.OPEN:
        return False
    try:
        lc.check_staff(facts, actor)
    except lc.Refused:
        return False
    return True


@router.get("/c/{complaint_id}", response_class=HTMLResponse)
def complaint(
    request: Request, user: User, complaint_id: int, ok: str = "", refused: str = ""
) -> Response:
    notice = ""
    if ok in STAFF_ACTIONS:
        notice = t.DONE.format(action=t.ACTION_BUTTONS[ok])
    elif ok == "assign":
        notice = t.DONE.format(action=t.ASSIGN)
    reason = ""
    if refused in msg.STAFF_REFUSED:
        reason = t.REFUSED.format(reason=msg.STAFF_REFUSED[refused].format(status="…"))
    return _complaint_page(request, user, complaint_id, notice=notice, refused=reason)


@router.post("/c/{complaint_id}/act")
async def act(request: Request, user: FormUser, complaint_id: int) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    text = str(form.get("text") or "")[: lc.TEXT_MAX + 1]
    target = str(form.get("unit") or "")[:32]
    state = state_of(request)
    if action not in STAFF_ACTIONS:
        return _complaint_page(
            request, user, complaint_id, refused=t.REFUSED.format(reason=action[:40]), status=400
        )
    event: lc.Event
    if action == "accept":
        event = lc.Accept()
    elif action == "transfer":
        event = lc.Transfer(target, text)
    elif action == "request_info":
        event = lc.RequestInfo(text)
    elif action == "answer":
        event = lc.Answer(text)
    else:
        event = lc.Reject(text)
    refusal: lc.Refusal | None = lc.Refusal.STATE
    moved_away = False
    for _ in range(ATTEMPTS):
        try:
            with session_scope(state.engine) as db:
                row = visible(db, user, complaint_id, request)
                result = state.desk.act(db, row, event, actor_of(user), utcnow(), staff_id=user.id)
                refusal = result.refused
                if refusal is None:
                    store_outbox(db, result.outgoing)
                    moved_away = user.role != "admin" and row.unit_id != user.unit_id
                break
        except (store.StaleComplaint, IntegrityError) as exc:
            # Another action on the same complaint committed first: read it again.
            log.info("console action redone: %s", exc)
    if refusal is not None:
        status = "…"
        with Session(state.engine) as db:
            row_now = db.get(Complaint, complaint_id)
            if row_now is not None:
                status = msg.STATUS_LABELS.get(row_now.status, row_now.status)
        reason = msg.STAFF_REFUSED.get(refusal.value, msg.STAFF_REFUSED["unknown"])
        return _complaint_page(
            request,
            user,
            complaint_id,
            refused=t.REFUSED.format(reason=reason.format(status=status)),
            status=409,
        )
    if moved_away:  # transferred out of the unit: its page is no longer this user's
        return RedirectResponse(f"/console?done={action}", status_code=303)
    return RedirectResponse(f"/console/c/{complaint_id}?ok={action}", status_code=303)


@router.post("/c/{complaint_id}/contact", response_class=HTMLResponse)
def contact(request: Request, user: FormUser, complaint_id: int) -> Response:
    """Name and phone, on an explicit request, audit-logged (as the card's «Xem liên hệ»)."""
    state = state_of(request)
    with session_scope(state.engine) as db:
        row = visible(db, user, complaint_id, request)
        facts = store.facts(row, store.unit_code_of(db, row))
        if not _may_act(facts, actor_of(user)):
            store.audit(
                db, f"staff:{user.id}", "complaint.refused", row.code, {"action": "contact"}
            )
            shown = None
        else:
            store.audit(db, f"staff:{user.id}", "complaint.contact_viewed", row.code, {})
            shown = (row.contact_name or "", row.contact_phone or "")
    return _complaint_page(request, user, complaint_id, contact=shown)


@router.post("/c/{complaint_id}/assign", response_class=HTMLResponse)
async def assign(request: Request, user: FormUser, complaint_id: int) -> Response:
    """A lead gives the complaint to one of the unit's active staff (an empty choice: to
    nobody). Who may and to whom is `complaints.lifecycle.assign`'s; the history and the
    audit log name both. Another unit's complaint: 404, as the other actions."""
    form = await request.form()
    chosen = str(form.get("staff") or "").strip()[:20]
    state = state_of(request)
    refusal: lc.Refusal | None = lc.Refusal.STATE
    for _ in range(ATTEMPTS):
        try:
            with session_scope(state.engine) as db:
                row = visible(db, user, complaint_id, request)
                refusal = _assign(db, row, user, chosen, state.desk)
                break
        except (store.StaleComplaint, IntegrityError) as exc:
            log.info("console assignment redone: %s", exc)
    if refusal is None:
        return RedirectResponse(f"/console/c/{complaint_id}?ok=assign", status_code=303)
    with Session(state.engine) as db:
        row_now = db.get(Complaint, complaint_id)
        label = msg.STATUS_LABELS.get(row_now.status, row_now.status) if row_now else "…"
    reasons = {**msg.STAFF_REFUSED, **t.ASSIGN_REFUSED}
    reason = reasons.get(refusal.value, msg.STAFF_REFUSED["unknown"]).format(status=label)
    code = 403 if refusal in (lc.Refusal.NOT_LEAD, lc.Refusal.NOT_STAFF) else 409
    return _complaint_page(
        request, user, complaint_id, refused=t.REFUSED.format(reason=reason), status=code
    )


def _assign(
    db: Session, row: Complaint, user: ConsoleUser, chosen: str, desk: ComplaintDesk
) -> lc.Refusal | None:
    """One assignment through the rule, stored like an action (optimistic lock, history row,
    audit row, the unit's cards redrawn); the refusal, if any, audit-logged."""
    now = utcnow()
    facts = store.facts(row, store.unit_code_of(db, row))
    target = queries.assignee(db, int(chosen)) if chosen.isdigit() and len(chosen) < 10 else None
    try:
        if chosen and target is None:
            raise lc.Refused(lc.Refusal.BAD_ASSIGNEE, f"no staff {chosen!r}")
        change = lc.assign(facts, target, actor_of(user), now)
    except lc.Refused as exc:
        detail = {"action": "assign", "reason": exc.reason.value, "assignee": chosen}
        store.audit(db, f"staff:{user.id}", "complaint.refused", row.code, detail, now)
        return exc.reason
    if change.complaint.assignee == facts.assignee:
        return None  # already theirs (a second click): no new history row
    store.write_facts(db, row, change.complaint, desk.policy, now, row.unit_id)
    store.add_history(db, row, change.history, user.id)
    if change.card_changed:
        store_outbox(db, desk.redraw(db, row, change.history))
    to = f"staff:{target.id}" if target else None
    store.audit(db, f"staff:{user.id}", f"complaint.{change.history.action}", row.code,
                {"assignee": to}, now)  # fmt: skip
    return None


@router.get("/c/{complaint_id}/photo/{index}")
def photo(request: Request, user: User, complaint_id: int, index: int) -> Response:
    """A web chat upload of the complaint, from the database (Telegram file ids cannot be
    shown here: the page says so)."""
    state = state_of(request)
    with Session(state.engine) as db:
        row = visible(db, user, complaint_id, request)
        photos = row.photos
        if not 0 <= index < len(photos) or photos[index][0] != "upload":
            raise NotVisible
        found = store.load_upload(db, str(photos[index][1]))
    if found is None or found[0] not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        raise NotVisible
    return Response(found[1], media_type=found[0], headers={"Cache-Control": "private"})
