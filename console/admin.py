"""The console's admin pages (role admin only; every POST carries the CSRF token and leaves an
audit row).

    GET  /console/admin                       links to the pages below
    GET  /console/admin/questionnaires        stored versions (answers count), files loaded
    POST /console/admin/questionnaires/upload YAML or XLSForm .xlsx ──▶ problems listed, or a
                                              PREVIEW: each question as the engine shows it,
                                              from the definition as it will be stored
    POST /console/admin/questionnaires/publish ──▶ ensure_questionnaire (refused on a reword
                                              of a stored version: storage.catalogue's rule)
    GET  /console/admin/staff                 accounts; POST …/staff/{id}/active (0|1)
    POST /console/admin/staff/{id}/sign-out   end every session of the account
    POST /console/admin/staff/invite          account + one-time link ──▶ GET|POST
    GET  /console/invite/{token}              the invitee sets a password (no session yet)
    GET  /console/admin/units                 units with their ward counts;
    POST /console/admin/units/{code}/link-code  a one-time `/lienket` code for a group
    GET  /console/admin/model                 the routing model's card and live accuracy
    POST /console/admin/model/retrain         `hailong nlp retrain --from-db` in the background
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.engine.core import question_reply as engine_render  # the engine's own reply
from bot.engine.state import SurveyProgress
from console import labels as t
from console.auth import ROLES, ConsoleUser, allow
from console.pages import FormUser, User, client_address, render, state_of
from console.sessions import LOGIN_COOKIE, MIN_PASSWORD, hash_password
from nlp.model import CARD_FILE
from storage import admin as queries
from storage import complaints as store
from storage import routing_examples
from storage.catalogue import (
    as_stored,
    asked_questionnaires,
    ensure_questionnaire,
    reworded_questions,
)
from storage.db import session_scope
from storage.types import utcnow
from survey.loader import (
    SHIPPED_DIR,
    QuestionnaireError,
    load_questionnaire,
    load_questionnaires,
)
from survey.model import Questionnaire
from survey.xlsform import MAX_UPLOAD, UploadRefused, parse_upload, validated

router = APIRouter(prefix="/console", include_in_schema=False)
INVITE_HOURS = 72  # an invitation link works this long, once
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[a-z0-9-]{2,63}")  # as `hailong staff add`
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the other fields of the upload form


def _admin(user: ConsoleUser) -> ConsoleUser:
    allow(user, "admin")
    return user


def _audit(
    request: Request, user: ConsoleUser, action: str, subject: str | None, **detail: Any
) -> None:
    with session_scope(state_of(request).engine) as db:
        store.audit(db, f"staff:{user.id}", action, subject, detail)


def upload_size_ok(request: Request) -> None:
    """Refuse a too large upload by its Content-Length, before the form is read (declared
    before the CSRF check so that the body is not spooled first)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_UPLOAD + _FORM_OVERHEAD:
        raise HTTPException(status_code=413, detail="upload larger than 1 MB")


@router.get("/admin", response_class=HTMLResponse)
def index(request: Request, user: User) -> Response:
    return render(request, "admin.html", {"user": _admin(user)})


# --- questionnaires -----------------------------------------------------------------------------


def _files(request: Request) -> list[dict[str, str]]:
    """The YAML files the bot loads (shipped, then QUESTIONNAIRE_DIR), each with its code
    and version, or the error that keeps it from loading."""
    folders = [SHIPPED_DIR, state_of(request).settings.questionnaire_dir]
    found = []
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(Path(folder).glob("*.yaml")):
            try:
                q = load_questionnaire(path)
                found.append({"file": str(path), "code": q.code, "version": q.version, "error": ""})
            except QuestionnaireError as exc:
                found.append({"file": str(path), "code": "", "version": "", "error": str(exc)})
    return found


def _asked(engine: Engine, folder: Path | None) -> set[tuple[str, str]]:
    """(code, version) of what citizens are asked now: the bot's own rule
    (`storage.catalogue.asked_questionnaires`), over the files that load."""
    try:
        files = load_questionnaires([folder] if folder is not None else [])
    except QuestionnaireError:
        files = load_questionnaires([])  # the shipped ones; the page lists the broken file
    return {(q.code, q.version) for q in asked_questionnaires(engine, files).values()}


def _questionnaires_page(
    request: Request,
    user: ConsoleUser,
    *,
    problems: list[str] | None = None,
    notice: str = "",
    refused: str = "",
    status: int = 200,
) -> Response:
    state = state_of(request)
    with Session(state.engine) as db:
        versions = queries.questionnaire_versions(db)
    context = {
        "user": user,
        "versions": versions,
        "asked": _asked(state.engine, state.settings.questionnaire_dir),
        "files": _files(request),
        "problems": problems or [],
        "notice": notice,
        "refused": refused,
    }
    return render(request, "admin_questionnaires.html", context, status)


@router.get("/admin/questionnaires", response_class=HTMLResponse)
def questionnaires(
    request: Request, user: User, published: str = "", already: str = ""
) -> Response:
    _admin(user)
    notice = ""
    code, _, version = (published or already).partition(":")
    if code and version:
        notice = (t.Q_PUBLISHED if published else t.Q_ALREADY).format(code=code, version=version)
    return _questionnaires_page(request, user, notice=notice)


def preview_items(q: Questionnaire) -> list[dict[str, Any]]:
    """Each question as the conversation engine replies with it (its numbered text and its
    buttons), all earlier questions counted as asked; conditions shown beside."""
    items = []
    asked: list[str] = []
    for question in q.questions:
        progress = SurveyProgress(
            key="preview",
            questionnaire=q.code,
            version=q.version,
            current=question.code,
            history=list(asked),
        )
        reply = engine_render(q, progress, question)
        when = ""
        if question.when is not None:
            earlier = q.question(question.when.question)
            labels = [c.label for c in earlier.options if c.code in question.when.in_]
            when = t.Q_ASKED_WHEN.format(question=earlier.code, answers=", ".join(labels))
        items.append(
            {
                "code": question.code,
                "text": reply.text,
                "buttons": [b.label for b in reply.buttons],
                "when": when,
                "element": q.element_name(question.element) or "",
            }
        )
        asked.append(question.code)
    return items


@router.post("/admin/questionnaires/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    _size: Annotated[None, Depends(upload_size_ok)],
    user: FormUser,
) -> Response:
    _admin(user)
    form = await request.form()
    file = form.get("file")
    if file is None or isinstance(file, str) or not file.filename:
        return _questionnaires_page(request, user, problems=[t.Q_NO_FILE], status=400)
    data = await file.read(MAX_UPLOAD + 1)
    name = file.filename[:200]
    try:
        q = parse_upload(name, data)
    except UploadRefused as refused:
        _audit(request, user, "admin.questionnaire_refused", name, problems=refused.problems[:20])
        return _questionnaires_page(request, user, problems=refused.problems, status=400)
    _audit(request, user, "admin.questionnaire_previewed", f"{q.code}:{q.version}", file=name)
    # Once published, the bot reads the stored definition back (the newest version of a code
    # is what new surveys ask): the preview shows that reading, not the parsed upload.
    try:
        q = as_stored(q)
    except ValueError as exc:  # would be stored and then skipped: refused here instead
        return _questionnaires_page(request, user, problems=[str(exc).splitlines()[0]], status=400)
    context = {
        "user": user,
        "q": q,
        "items": preview_items(q),
        "definition": q.model_dump_json(by_alias=True),
    }
    return render(request, "admin_preview.html", context)


@router.post("/admin/questionnaires/publish", response_class=HTMLResponse)
async def publish(request: Request, user: FormUser) -> Response:
    _admin(user)
    form = await request.form()
    try:
        raw = json.loads(str(form.get("definition") or ""))
        if not isinstance(raw, dict):
            raise UploadRefused(["expected a questionnaire"])
        q = validated(raw)  # the preview's copy came back through the browser: checked again
    except (ValueError, UploadRefused) as exc:
        problems = exc.problems if isinstance(exc, UploadRefused) else ["invalid definition"]
        return _questionnaires_page(request, user, problems=problems, status=400)
    subject = f"{q.code}:{q.version}"
    with session_scope(state_of(request).engine) as db:
        reworded = reworded_questions(db, q)
        if reworded:
            store.audit(
                db,
                f"staff:{user.id}",
                "admin.questionnaire_refused",
                subject,
                {"reworded": reworded},
            )
            refusal = t.Q_REWORDED.format(version=q.version, codes=", ".join(reworded))
            stored = False
        else:
            stored = not queries.version_exists(db, q.code, q.version)
            ensure_questionnaire(db, q)
            action = "admin.questionnaire_published" if stored else "admin.questionnaire_kept"
            store.audit(db, f"staff:{user.id}", action, subject, {})
    if reworded:
        return _questionnaires_page(request, user, refused=refusal, status=409)
    key = "published" if stored else "already"
    return RedirectResponse(f"/console/admin/questionnaires?{key}={subject}", status_code=303)


# --- staff --------------------------------------------------------------------------------------


def _staff_page(
    request: Request,
    user: ConsoleUser,
    notice: str = "",
    refused: str = "",
    status: int = 200,
    link: str = "",
) -> Response:
    with Session(state_of(request).engine) as db:
        rows = queries.staff_list(db)
    context = {
        "user": user,
        "rows": rows,
        "notice": notice,
        "refused": refused,
        "link": link,
        "roles": ROLES,
    }
    return render(request, "admin_staff.html", context, status)


@router.get("/admin/staff", response_class=HTMLResponse)
def staff(request: Request, user: User) -> Response:
    return _staff_page(request, _admin(user))


@router.post("/admin/staff/{staff_id}/active", response_class=HTMLResponse)
async def staff_active(request: Request, user: FormUser, staff_id: int) -> Response:
    _admin(user)
    form = await request.form()
    active = form.get("active") == "1"
    if staff_id == user.id and not active:  # an admin never locks themself out
        return _staff_page(request, user, refused=t.S_NOT_SELF, status=409)
    state = state_of(request)
    with session_scope(state.engine) as db:
        row = queries.set_active(db, staff_id, active, f"staff:{user.id}")
        name = row.name if row is not None else ""
        state.desk.redraw_released(db)  # the cards of complaints they held
    if row is None:
        return _staff_page(request, user, refused=t.ADMIN_NOT_FOUND, status=404)
    notice = (t.S_REACTIVATED if active else t.S_DEACTIVATED).format(name=name)
    return _staff_page(request, user, notice=notice)


@router.post("/admin/staff/{staff_id}/sign-out", response_class=HTMLResponse)
def staff_sign_out(request: Request, user: FormUser, staff_id: int) -> Response:
    """«Đăng xuất mọi nơi»: every console cookie of the account issued until now is refused
    (a lost phone, a shared computer), audit-logged."""
    _admin(user)
    with session_scope(state_of(request).engine) as db:
        row = queries.sign_out_everywhere(db, staff_id, f"staff:{user.id}")
        name = row.name if row is not None else ""
    if row is None:
        return _staff_page(request, user, refused=t.ADMIN_NOT_FOUND, status=404)
    if staff_id == user.id:  # this very session ended too
        return RedirectResponse("/console/login", status_code=303)
    return _staff_page(request, user, notice=t.S_SIGNED_OUT.format(name=name))


@router.post("/admin/staff/invite", response_class=HTMLResponse)
async def staff_invite(request: Request, user: FormUser) -> Response:
    """Create (or update, by e-mail) an account without a password and a one-time link with
    which its owner sets one."""
    _admin(user)
    form = await request.form()
    name = " ".join(str(form.get("name") or "").split())[:200]
    email = str(form.get("email") or "").strip().lower()[:200]
    role = str(form.get("role") or "")
    unit = str(form.get("unit") or "").strip().upper()[:32] or None
    problem = ""
    if not name:
        problem = t.S_INVITE_NAME
    elif not EMAIL.fullmatch(email):
        problem = t.S_INVITE_EMAIL
    elif role not in ROLES:
        problem = t.S_INVITE_ROLE
    elif role in ("staff", "lead") and unit is None:
        problem = t.S_INVITE_UNIT
    if problem:
        return _staff_page(request, user, refused=problem, status=400)
    state = state_of(request)
    now = utcnow()
    try:
        with session_scope(state.engine) as db:
            account = store.add_staff(
                db, name=name, unit_code=unit, role=role, telegram_id=None, email=email, at=now
            )
            assert account.id is not None
            state.desk.redraw_released(db)  # an existing account moved: cards it held
            token = queries.new_invitation(
                db, account.id, now, timedelta(hours=INVITE_HOURS), f"staff:{user.id}"
            )
    except (LookupError, ValueError):
        return _staff_page(request, user, refused=t.S_INVITE_UNIT, status=400)
    link = f"{state.settings.public_base_url.rstrip('/')}/console/invite/{token}"
    notice = t.S_INVITE_LINK.format(email=email, hours=INVITE_HOURS)
    return _staff_page(request, user, notice=notice, link=link)


def _invite_page(request: Request, token: str, error: str = "", status: int = 200) -> Response:
    state = state_of(request)
    with Session(state.engine) as db:
        account = queries.invited(db, token, utcnow())
        email = account.email if account is not None else None
    if account is None or state.sessions is None:
        return render(request, "error.html", {"message": t.S_INVITE_INVALID}, 404)
    nonce, form_token = state.sessions.login_nonce()
    context = {"email": email, "token": token, "login_token": form_token, "error": error}
    response = render(request, "admin_invite.html", context, status)
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, path="/console", httponly=True, samesite="lax",
        secure=state.secure,
    )  # fmt: skip
    return response


@router.get("/invite/{token}", response_class=HTMLResponse)
def invitation(request: Request, token: str) -> Response:
    return _invite_page(request, token)


@router.post("/invite/{token}", response_class=HTMLResponse)
async def accept(request: Request, token: str) -> Response:
    state = state_of(request)
    form = await request.form()
    if state.sessions is None or not state.sessions.login_ok(
        request.cookies.get(LOGIN_COOKIE), str(form.get("csrf") or "")
    ):
        return _invite_page(request, token, t.LOGIN_FORM_EXPIRED, 403)
    password = str(form.get("password") or "")[:1001]
    if len(password) < MIN_PASSWORD or len(password) > 1000:
        return _invite_page(request, token, t.S_INVITE_SHORT.format(n=MIN_PASSWORD), 400)
    if password != str(form.get("again") or ""):
        return _invite_page(request, token, t.S_INVITE_MISMATCH, 400)
    with session_scope(state.engine) as db:
        account = queries.accept_invitation(
            db, token, hash_password(password), utcnow(), client_address(request)
        )
    if account is None:
        return render(request, "error.html", {"message": t.S_INVITE_INVALID}, 404)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


# --- units and wards ----------------------------------------------------------------------------


def _units_page(
    request: Request, user: ConsoleUser, notice: str = "", status: int = 200
) -> Response:
    with Session(state_of(request).engine) as db:
        rows = queries.units_with_wards(db)
    return render(
        request, "admin_units.html", {"user": user, "rows": rows, "notice": notice}, status
    )


@router.get("/admin/units", response_class=HTMLResponse)
def units(request: Request, user: User) -> Response:
    return _units_page(request, _admin(user))


@router.post("/admin/units/{code}/link-code", response_class=HTMLResponse)
def link_code(request: Request, user: FormUser, code: str) -> Response:
    """The same one-time code as `hailong staff link-code --unit CODE`."""
    _admin(user)
    state = state_of(request)
    hours = state.settings.link_code_ttl_hours
    with session_scope(state.engine) as db:
        unit = store.unit_by_code(db, code[:32])
        if unit is None or unit.id is None:
            return _units_page(request, user, t.ADMIN_NOT_FOUND, 404)
        one_time = store.new_link_code(db, unit.id, utcnow(), timedelta(hours=hours))
        store.audit(db, f"staff:{user.id}", "group.link_code", f"unit:{unit.code}", {})
        name = unit.name
    notice = t.U_LINK_CODE_SHOWN.format(code=one_time, unit=name, hours=hours)
    return _units_page(request, user, notice)


# --- the routing model --------------------------------------------------------------------------


def model_card(model_dir: Path) -> dict[str, Any] | None:
    """The card `hailong nlp train|retrain` wrote beside the model (JSON only: the model
    itself is not loaded for a page); None when there is no readable card."""
    try:
        card = json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def live_accuracy(engine: Engine) -> tuple[int, int, int]:
    """(scored, correct, unpredicted) over each handled complaint's final example: the rule of
    `hailong nlp eval --from-db` (storage.routing_examples.live_accuracy), read the same way."""
    parents = dict(routing_examples.unit_parents(engine))
    figures = routing_examples.live_accuracy(routing_examples.final_examples(engine), parents)
    return int(figures["n"]), int(figures["correct"]), int(figures["unpredicted"])


@router.get("/admin/model", response_class=HTMLResponse)
def model(request: Request, user: User) -> Response:
    return _model_page(request, _admin(user))


def _model_page(request: Request, user: ConsoleUser, notice: str = "") -> Response:
    state = state_of(request)
    card = model_card(state.settings.nlp_model_dir)
    scored, correct, unpredicted = live_accuracy(state.engine)
    data = (card or {}).get("data") or {}
    metrics = (card or {}).get("metrics") or {}
    context = {
        "user": user,
        "card": card,
        "trained_at": (card or {}).get("created_at", ""),
        "samples": data.get("n"),
        "source": data.get("source", ""),
        "labels": len((card or {}).get("labels") or ()),
        "holdout_accuracy": metrics.get("accuracy"),
        "holdout_macro_f1": metrics.get("macro_f1"),
        "split": metrics.get("split", ""),
        "scored": scored,
        "correct": correct,
        "unpredicted": unpredicted,
        "live": correct / scored if scored else None,
    }
    context["retrain"] = RETRAINS.get(state.settings.nlp_model_dir)
    context["retrain_notice"] = notice
    return render(request, "admin_model.html", context)


@dataclass(frozen=True)
class Retrain:
    """One background retrain: who started it, when, and how it ended."""

    started_at: datetime
    by: str
    finished_at: datetime | None = None
    report: dict[str, Any] | None = None  # the CLI's --json answer
    error: str = ""


class Retrains:
    """At most one retrain per model folder at a time, in a thread of this process; the last
    one's outcome is kept for the page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[Path, Retrain] = {}
        self.threads: dict[Path, threading.Thread] = {}

    def get(self, model_dir: Path) -> Retrain | None:
        with self._lock:
            return self._runs.get(model_dir)

    def start(self, model_dir: Path, database_url: str, engine: Engine, by: str) -> bool:
        """Start `hailong nlp retrain --from-db` on `model_dir`; False if one is running."""
        with self._lock:
            run = self._runs.get(model_dir)
            if run is not None and run.finished_at is None:
                return False
            self._runs[model_dir] = Retrain(started_at=utcnow(), by=by)
        thread = threading.Thread(
            target=self._run, args=(model_dir, database_url, engine, by), daemon=True
        )
        self.threads[model_dir] = thread
        thread.start()
        return True

    def _run(self, model_dir: Path, database_url: str, engine: Engine, by: str) -> None:
        # The CLI itself, in a child process: the very rule of `hailong nlp retrain --from-db`
        # (replace only if not worse), and training's CPU and memory stay out of the server.
        command = [sys.executable, "-m", "hailong.cli", "nlp", "retrain", "--from-db"]
        command += ["--model", str(model_dir), "--json"]
        report: dict[str, Any] | None = None
        error = ""
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=RETRAIN_TIMEOUT,
                env={**os.environ, "DATABASE_URL": database_url},
            )
            if done.returncode == 0:
                report = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                error = (done.stderr.strip().splitlines() or ["?"])[-1][:300]
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            error = type(exc).__name__
        with self._lock:
            run = self._runs[model_dir]
            self._runs[model_dir] = replace(run, finished_at=utcnow(), report=report, error=error)
        with session_scope(engine) as db:
            detail = (
                {"error": error} if error else {"replaced": bool((report or {}).get("replaced"))}
            )
            store.audit(db, by, "admin.model_retrained", str(model_dir.name), detail)


RETRAIN_TIMEOUT = 3600
RETRAINS = Retrains()


@router.post("/admin/model/retrain", response_class=HTMLResponse)
def retrain(request: Request, user: FormUser) -> Response:
    _admin(user)
    state = state_of(request)
    model_dir = state.settings.nlp_model_dir
    by = f"staff:{user.id}"
    started = RETRAINS.start(model_dir, state.settings.database_url, state.engine, by)
    if started:
        _audit(request, user, "admin.model_retrain", str(model_dir.name))
    return _model_page(request, user, t.M_RETRAIN_STARTED if started else t.M_RETRAIN_BUSY)
