"""Open311 GeoReport v2 under `/open311/v2/`: city systems and Open311 apps file complaints
and follow them (http://wiki.open311.org/GeoReport_v2). Every endpoint answers as `.json`
and as `.xml` (the spec's element names): one function builds the data, `answer` writes it
in either form.

- `GET services.json`: the unit catalogue as services (service_code = unit code);
  `services/{code}.json` a service's definition (no attributes: metadata is false).
- `POST requests.json` (form-encoded as the spec says, or JSON; an OPEN311_API_KEYS key as
  `api_key` or X-API-Key): a complaint through the complaint desk, exactly as a chat's
  (router, tracking code PA-YYYY-NNNNNN, due date, the card to the unit's group). A
  `service_code` naming a unit routes it there instead of the router.
- `GET requests.json` (service_request_id, service_code, start_date, end_date, status,
  and the extensions page, page_size) and `GET requests/{id}.json`: public, no key.
- `POST privacy/delete.json` (an extension; an OPEN311_API_KEYS key): a submitter's deletion
  request, by `email` and/or `phone` (optionally only on `service_request_id`): their contact
  and every copy of it erased (storage.open311.forget_submitter, as `hailong privacy forget`),
  the complaints kept.

Personal data never leaves: descriptions and notes are masked (names too), no contact,
chat or photo is shown, and a complaint or denunciation (Thanh tra's track) shows no text
or location. Contact details are kept, as the complaint's contact for the handling unit,
only when the extension field `consent=true` is sent; otherwise they are dropped unread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from bot import messages as msg
from bot.channels.context import AppContext
from bot.desk import ComplaintDesk, store_outbox
from bot.dossier_api import key_accepted
from bot.engine.complaint import describes_something, local_day, valid_phone
from bot.engine.types import SubmitComplaint
from bot.http_json import loads
from complaints import lifecycle as lc
from nlp.catalogue import load_catalogue as load_nlp_catalogue
from nlp.gazetteer import default_detector
from nlp.pii import mask_pii
from storage import complaints as store
from storage import open311 as o311
from storage.db import session_scope
from storage.models import Complaint
from storage.types import utcnow

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
CHANNEL = o311.CHANNEL  # Complaint.channel and origin of the complaints filed here
FORMATS = ("json", "xml")
XML_TYPE = "application/xml; charset=utf-8"
EMAIL_MAX = 254
DESCRIPTION_MAX = 10_000  # as a chat's complaint (bot.engine.complaint.COMPLAINT_MAX)
ADDRESS_MAX = 500
NAME_MAX = 100
URL_MAX = 2000
MAX_BODY = 256 * 1024  # a 10,000-character Vietnamese description, percent-encoded, fits
MAX_FIELDS = 100
RETRY_WINDOW = timedelta(minutes=1)  # an identical body within it is the same request
DEFAULT_PERIOD = timedelta(days=90)  # the spec's default window of GET requests.json
PAGE_SIZE, PAGE_SIZE_MAX = 100, 1000
_TRUE = {"true", "1", "yes", "on"}
_URL = re.compile(r"^https?://[^\s/]+\S*$")


class Open311Error(Exception):
    """An answer in GeoReport v2's error format: `[{"code": 400, "description": "…"}]`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


# --- the two forms of an answer ----------------------------------------------------------------

# (root element, element of each item) of each kind of answer, as GeoReport v2 names them;
# no item element: the root holds the one object's fields.
SERVICES = ("services", "service")
DEFINITION = ("service_definition", None)
REQUESTS = ("service_requests", "request")
ERRORS = ("errors", "error")
DELETIONS = ("deletions", "deletion")  # the privacy extension
_LIST_ITEM = {"attributes": "attribute", "values": "value"}

# What XML 1.0 can hold (https://www.w3.org/TR/xml/#charsets): other control characters and
# lone surrogates make a document no parser accepts, so they become U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str | None:
    """A JSON value as XML element text: null is an empty element, booleans true/false."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    # A parser reads CR LF and a lone CR as LF: say so rather than let it change silently.
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_XML.sub("\ufffd", text)


def _fill(parent: ET.Element, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        child = ET.SubElement(parent, name)
        if isinstance(value, list):
            for entry in value:
                item = ET.SubElement(child, _LIST_ITEM.get(name, "item"))
                if isinstance(entry, dict):
                    _fill(item, entry)
                else:
                    item.text = xml_text(entry)
        elif isinstance(value, dict):
            _fill(child, value)
        else:
            child.text = xml_text(value)


def xml_document(shape: tuple[str, str | None], data: Any) -> bytes:
    """The answer as GeoReport v2's XML; ElementTree escapes &, < and > in all text."""
    root_name, item_name = shape
    root = ET.Element(root_name)
    if item_name is None:
        _fill(root, data)
    else:
        for fields in data:
            _fill(ET.SubElement(root, item_name), fields)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def answer(
    data: Any,
    fmt: str,
    shape: tuple[str, str | None],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The same data as JSON or as XML."""
    if fmt == "xml":
        return Response(
            xml_document(shape, data), status_code=status, headers=headers, media_type=XML_TYPE
        )
    return JSONResponse(data, status_code=status, headers=headers)


def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Open311Error)
    headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
    body = [{"code": exc.status, "description": exc.description}]
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return answer(body, fmt, ERRORS, exc.status, headers)


def _bad(description: str) -> Open311Error:
    return Open311Error(400, description)


# --- POST requests.json: reading and checking a new request ------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """A new service request, checked; contact details only with consent."""

    description: str
    service_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    media_url: str | None = None
    consent: bool = False
    name: str | None = None
    phone: str | None = None

    def fingerprint(self) -> str:
        """What makes two bodies the same request (the api_key is not part of it)."""
        return json.dumps(
            [
                self.description,
                self.service_code,
                self.latitude,
                self.longitude,
                self.address,
                self.media_url,
                self.name,
                self.phone,
            ],
            ensure_ascii=False,
        )


async def read_fields(request: Request) -> dict[str, Any]:
    """The body's fields: form-encoded (the spec) or a JSON object."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Open311Error(413, f"request body larger than {MAX_BODY} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            data = loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _bad(f"request body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise _bad("request body is nested too deeply") from exc
        if not isinstance(data, dict):
            raise _bad("request body must be a JSON object")
        return data
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            text = bytes(body).decode("utf-8")
            pairs = parse_qsl(
                text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"
            )
        except UnicodeDecodeError as exc:
            raise _bad(f"request body is not UTF-8: {exc}") from exc
        except ValueError as exc:
            raise _bad(f"request body is not a valid form: {exc}") from exc
        fields: dict[str, Any] = {}
        for name, value in pairs:
            fields.setdefault(name, value)  # a repeated field: the first counts
        return fields
    raise Open311Error(
        415, "send application/x-www-form-urlencoded (as GeoReport v2 says) or application/json"
    )


def _text(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(f"{name} must be a string")
    # NUL is no character either database can store in text.
    text = str(value).replace("\x00", "").strip()
    if len(text) > limit:
        raise _bad(f"{name} is longer than {limit} characters ({len(text)})")
    return text or None


def _coordinate(data: dict[str, Any], name: str, bound: float) -> float | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad(f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise _bad(f"{name} must be between -{bound:g} and {bound:g}")
    return number


def parse_request(data: dict[str, Any], unit_codes: set[str]) -> NewRequest:
    """Check a new request's fields; raise Open311Error(400) saying what is wrong."""
    description = _text(data, "description", DESCRIPTION_MAX)
    if description is None:
        raise _bad("description is required")
    if not describes_something(description):
        raise _bad("description says nothing beyond numbers or punctuation")
    service_code = _text(data, "service_code", 64)
    if service_code is not None and service_code not in unit_codes:
        raise _bad(f"unknown service_code {service_code!r}: see services.json")
    latitude = _coordinate(data, "lat", 90)
    longitude = _coordinate(data, "long", 180)
    if (latitude is None) != (longitude is None):
        raise _bad("lat and long go together: send both or neither")
    media_url = _text(data, "media_url", URL_MAX)
    if media_url is not None and not _URL.match(media_url):
        raise _bad("media_url must be an http:// or https:// URL")
    consent = str(data.get("consent", "")).strip().lower() in _TRUE
    name = phone = None
    if consent:
        first = _text(data, "first_name", NAME_MAX)
        last = _text(data, "last_name", NAME_MAX)
        # Vietnamese order: family name first.
        name = " ".join(p for p in (last, first) if p) or None
        given = _text(data, "phone", 32)
        if given is not None:
            phone = valid_phone(given)
            if phone is None:
                raise _bad("phone is not a Vietnamese phone number")
    return NewRequest(
        description=description,
        service_code=service_code,
        latitude=latitude,
        longitude=longitude,
        address=_text(data, "address_string", ADDRESS_MAX),
        media_url=media_url,
        consent=consent and bool(name or phone),
        name=name,
        phone=phone,
    )


@dataclass(frozen=True)
class Deletion:
    """A submitter's deletion request, checked: e-mail lower-cased, phone normalised."""

    email: str | None
    phone: str | None
    codes: tuple[str, ...] = ()


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def parse_deletion(data: dict[str, Any]) -> Deletion:
    email = _text(data, "email", EMAIL_MAX)
    if email is not None:
        email = email.lower()
        if not _EMAIL.match(email):
            raise _bad("email is not an e-mail address")
    phone = None
    given = _text(data, "phone", 32)
    if given is not None:
        phone = valid_phone(given)
        if phone is None:
            raise _bad("phone is not a Vietnamese phone number")
    if email is None and phone is None:
        raise _bad("email or phone is required: the contact the requests were filed with")
    ids = _text(data, "service_request_id", 21 * PAGE_SIZE_MAX) or ""
    codes = tuple(dict.fromkeys(c.strip().upper() for c in ids.split(",") if c.strip()))
    if len(codes) > PAGE_SIZE_MAX:
        raise _bad(f"service_request_id: at most {PAGE_SIZE_MAX} comma-separated codes")
    return Deletion(email=email, phone=phone, codes=codes)


# --- routing to a named unit ----------------------------------------------------------------------


class NamedUnitRouter:
    """The shared router's reading of the text (its prediction, candidates and ward kept on
    the complaint, for the card and live accuracy), with the unit the client named."""

    def __init__(self, router: Any, unit: str) -> None:
        self.router, self.unit = router, unit

    def route(self, text: str) -> Any:
        return replace(self.router.route(text), unit=self.unit, needs_triage=False)


# --- GET: the public view of a complaint ---------------------------------------------------------


def _iso(at: datetime | None, policy: lc.Policy) -> str | None:
    return at.astimezone(policy.tz).isoformat(timespec="seconds") if at is not None else None


def public_text(text: str, row: Complaint) -> str:
    """Text fit for anyone: personal data and names masked, and the submitter's own name
    and phone wherever they still appear."""
    masked = mask_pii(text, names=True)
    for own in (row.contact_name, row.contact_phone):
        if own and len(own) >= 3:
            masked = masked.replace(own, "[…]")
    return masked


def public_request(
    row: Complaint, unit_code: str, unit_name: str, note: str | None, policy: lc.Policy
) -> dict[str, Any]:
    """One complaint in GeoReport v2's fields, without personal data."""
    status = lc.Status(row.status)
    closed = status in lc.CLOSED
    hidden = row.track == lc.Track.KHIEU_NAI.value  # complaints and denunciations: law-protected
    return {
        "service_request_id": row.code,
        "status": "closed" if closed else "open",
        "status_notes": public_text(note, row) if closed and note and not hidden else None,
        "service_name": unit_name,
        "service_code": unit_code,
        "description": None if hidden else public_text(row.masked_text, row),
        "agency_responsible": unit_name,
        "service_notice": None,
        "requested_datetime": _iso(row.received_at, policy),
        "updated_datetime": _iso(row.updated_at, policy),
        "expected_datetime": _iso(row.due_at, policy),
        "address": row.ward_name,
        "address_id": None,
        "zipcode": None,
        "lat": None if hidden else row.latitude,
        "long": None if hidden else row.longitude,
        "media_url": None,  # chat photos are the citizen's; links are for the unit only
    }


def service_notice(row: Complaint, unit_name: str) -> str:
    if row.track == lc.Track.KHIEU_NAI.value:
        kind = "khieu_nai"
    elif row.status == lc.Status.TRIAGE.value:
        kind = "triage"
    else:
        kind = "routed"
    return msg.OPEN311_NOTICE[kind].format(code=row.code, unit=unit_name, due=local_day(row.due_at))


def _when(value: str, name: str, policy: lc.Policy, *, end: bool) -> datetime:
    """A W3C date-time; without a time zone, Ho Chi Minh City's; a bare date is its whole day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day, time.max if end else time.min)
        else:
            at = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name} is not a date-time such as 2026-12-01T08:00:00+07:00") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=policy.tz)


def _positive(value: str | None, name: str, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise _bad(f"{name} must be a whole number from 1 to {most}")
    return int(value)


# --- the plugin -----------------------------------------------------------------------------------


class Open311:
    """The GeoReport v2 API as a plugin of `hailong serve` (always on: without
    OPEN311_API_KEYS it only answers GET)."""

    name = "open311"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.settings = ctx.settings
        self.desk: ComplaintDesk = ctx.service.desk
        self._keywords: dict[str, str] | None = None

    @staticmethod
    def enabled(_settings: Any) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    # --- services ---------------------------------------------------------------------------

    def keywords(self) -> dict[str, str]:
        """The router catalogue's keywords of each unit, comma-separated (read once)."""
        if self._keywords is None:
            try:
                units = load_nlp_catalogue()
            except Exception:  # a missing or broken router catalogue: services without keywords
                log.exception("router catalogue unreadable: services listed without keywords")
                units = {}
            self._keywords = {code: ",".join(u.keywords) for code, u in units.items()}
        return self._keywords

    def services(self) -> list[dict[str, Any]]:
        with session_scope(self.engine) as session:
            units = o311.services(session)
        keywords = self.keywords()
        return [
            {
                "service_code": u.code,
                "service_name": u.name,
                "description": u.description,
                "metadata": False,
                "type": "realtime",
                "keywords": keywords.get(u.code) or keywords.get(u.parent_code or "", ""),
                "group": msg.OPEN311_GROUPS.get(u.kind, msg.OPEN311_GROUPS["khac"]),
            }
            for u in units
        ]

    # --- creating a request -------------------------------------------------------------------

    def unit_codes(self) -> set[str]:
        with session_scope(self.engine) as session:
            return {u.code for u in o311.services(session)}

    def create(
        self, req: NewRequest, api_key: str, idempotency_key: str | None
    ) -> tuple[Complaint, str, bool]:
        """File the request through the desk (or find the one it repeats): (complaint, unit
        name, created)."""
        now = utcnow()
        client = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        if idempotency_key:
            keys = [_key("idem", client, idempotency_key)]
        else:
            # The same body within RETRY_WINDOW: this minute's key, or the last minute's.
            minute = int(now.timestamp() // 60)
            keys = [_key("body", client, req.fingerprint(), str(m)) for m in (minute, minute - 1)]
        for attempt in range(2):
            try:
                with session_scope(self.engine) as session:
                    for key in keys:
                        row = store.by_key(session, key)
                        if row is not None and (
                            idempotency_key or row.received_at >= now - RETRY_WINDOW
                        ):
                            return row, self._unit_name(session, row), False
                    row = self._submit(session, req, keys[0], now)
                    return row, self._unit_name(session, row), True
            except IntegrityError:
                # A concurrent copy of this request committed first (PostgreSQL: the unique
                # key); this one rolled back, its number given back. Read the winner's.
                if attempt:
                    raise
                log.info("open311: a concurrent retry won the race; answering with its code")
        raise AssertionError("unreachable")

    def _submit(self, session: Session, req: NewRequest, key: str, now: datetime) -> Complaint:
        desk = self.desk
        if req.service_code is not None:
            base, unit = self.desk, req.service_code
            desk = ComplaintDesk(
                lambda: NamedUnitRouter(base.router, unit),
                base.policy,
                monitor_chat=base.monitor_chat,
            )
        external_id = ""  # no chat: the desk then queues nothing for the citizen
        if req.consent:
            external_id = f"o311-{uuid.uuid4().hex}"
            o311.add_contact(
                session, CHANNEL, external_id, req.name, req.phone, msg.OPEN311_CONSENT, now
            )
        text = req.description
        ward = None
        if req.address:
            text += "\n" + msg.OPEN311_ADDRESS.format(address=req.address)
            found = default_detector().detect(req.address)
            ward = found.code if found is not None else None
        effect = SubmitComplaint(
            key=key,
            text=text,
            at=now,
            photos=(("image", req.media_url),) if req.media_url else (),
            location=(req.latitude, req.longitude)
            if req.latitude is not None and req.longitude is not None
            else None,
            ward=ward,
            origin=CHANNEL,
        )
        outgoing = desk.submit(session, CHANNEL, external_id, effect)
        store_outbox(session, [o for o in outgoing if o[0] != CHANNEL])
        row = store.by_key(session, key)
        assert row is not None and row.code is not None
        o311.detach_chat(session, row)
        return row

    def _unit_name(self, session: Session, row: Complaint) -> str:
        return self.desk.units(session, id=row.unit_id).by_id[row.unit_id].name

    # --- reading requests -----------------------------------------------------------------------

    def find(self, filters: o311.Filters) -> list[dict[str, Any]]:
        with session_scope(self.engine) as session:
            rows = o311.listing(session, filters)
            closed = [r.id for r, _, _ in rows if r.id is not None and r.status in lc.CLOSED]
            notes = o311.closing_notes(session, closed)
        policy = self.desk.policy
        return [
            public_request(row, code, name, notes.get(row.id or 0), policy)
            for row, code, name in rows
        ]

    def filters(self, query: dict[str, str]) -> o311.Filters:
        """The query string's filters, checked (400 on anything malformed)."""
        policy = self.desk.policy
        page = _positive(query.get("page"), "page", 1, 1_000_000)
        size = _positive(query.get("page_size"), "page_size", PAGE_SIZE, PAGE_SIZE_MAX)
        offset = (page - 1) * size
        ids = query.get("service_request_id")
        if ids is not None:  # the spec: it overrides every other argument
            codes = [c.strip().upper() for c in ids.split(",") if c.strip()]
            if not codes or len(codes) > PAGE_SIZE_MAX:
                raise _bad(f"service_request_id: 1 to {PAGE_SIZE_MAX} comma-separated codes")
            return o311.Filters(codes=codes, offset=offset, limit=size)
        unit = query.get("service_code") or None
        if unit is not None and unit not in self.unit_codes():
            raise _bad(f"unknown service_code {unit!r}: see services.json")
        start = (
            _when(query["start_date"], "start_date", policy, end=False)
            if query.get("start_date")
            else None
        )
        end = (
            _when(query["end_date"], "end_date", policy, end=True)
            if query.get("end_date")
            else None
        )
        if start is None and end is None:
            end = utcnow()
            start = end - DEFAULT_PERIOD
        elif start is None and end is not None:
            start = end - DEFAULT_PERIOD
        if start is not None and end is not None and start > end:
            raise _bad("start_date is after end_date")
        statuses: set[str] = set()
        for word in (query.get("status") or "").split(","):
            word = word.strip().lower()
            if word == "open":
                statuses |= {s.value for s in lc.OPEN}
            elif word == "closed":
                statuses |= {s.value for s in lc.CLOSED}
            elif word:
                raise _bad(f"status must be open, closed or both (comma-separated), not {word!r}")
        return o311.Filters(
            unit_code=unit,
            start=start,
            end=end,
            statuses=sorted(statuses),
            offset=offset,
            limit=size,
        )

    # --- a submitter's deletion request ---------------------------------------------------------

    def forget(self, deletion: Deletion, api_key: str) -> int:
        """Erase the submitter's data (storage.open311.forget_submitter): how many requests."""
        client = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        with session_scope(self.engine) as session:
            done = o311.forget_submitter(
                session,
                email=deletion.email,
                phone=deletion.phone,
                actor=f"open311:{client}",
                at=utcnow(),
                codes=deletion.codes,
            )
            self.desk.redraw_cards(session, done.complaint_ids)  # delivered cards too
        log.info("open311: a deletion request erased the submitter of %s requests", done.requests)
        return done.requests

    # --- routes ---------------------------------------------------------------------------------

    def install(self, app: FastAPI) -> None:
        app.add_exception_handler(Open311Error, _error_response)
        app.include_router(self.router())

    def router(self) -> APIRouter:
        api = APIRouter(prefix=PREFIX, tags=["open311"])
        for fmt in FORMATS:
            self._routes(api, fmt)
        return api

    def _routes(self, api: APIRouter, fmt: str) -> None:
        """Every endpoint as `.{fmt}`: the same handlers, the answer in that form."""
        plugin = self

        @api.get(f"/services.{fmt}")
        async def services() -> Response:
            """The unit catalogue as GeoReport v2 services (service_code = unit code)."""
            return answer(await run_in_threadpool(plugin.services), fmt, SERVICES)

        @api.get(f"/services/{{service_code}}.{fmt}")
        async def service_definition(service_code: str) -> Response:
            """A service's definition: no attributes (every service's metadata is false)."""
            if service_code not in await run_in_threadpool(plugin.unit_codes):
                raise Open311Error(404, f"no service {service_code[:40]!r}: see services.{fmt}")
            return answer({"service_code": service_code, "attributes": []}, fmt, DEFINITION)

        @api.post(
            f"/requests.{fmt}",
            responses={
                201: {"description": '[{"service_request_id", "service_notice", "account_id"}]'},
                400: {"description": "Malformed body or invalid field"},
                401: {"description": "api_key missing"},
                403: {"description": "api_key not accepted"},
            },
        )
        async def create_request(request: Request) -> Response:
            """File a complaint. Fields as GeoReport v2 (form-encoded, or JSON): api_key,
            service_code (optional here: the router picks the unit), description, lat/long,
            address_string, media_url; first_name, last_name, phone kept only with the
            extension field consent=true (email is never kept). Retried with the same
            `Idempotency-Key` header, or the same body within a minute: the same code."""
            data, given = await plugin.keyed_fields(request)
            req = parse_request(data, await run_in_threadpool(plugin.unit_codes))
            idem = (request.headers.get("idempotency-key") or "").strip()[:200] or None
            row, unit_name, created = await run_in_threadpool(plugin.create, req, given, idem)
            body = [
                {
                    "service_request_id": row.code,
                    "service_notice": service_notice(row, unit_name),
                    "account_id": None,
                }
            ]
            return answer(body, fmt, REQUESTS, 201 if created else 200)

        @api.get(f"/requests.{fmt}")
        async def list_requests(request: Request) -> Response:
            """Complaints with the GeoReport v2 filters (default: the last 90 days), newest
            first; `page` and `page_size` (at most 1000) page through them."""
            # Checking service_code reads the units: off the event loop, as every query.
            filters = await run_in_threadpool(plugin.filters, dict(request.query_params))
            return answer(await run_in_threadpool(plugin.find, filters), fmt, REQUESTS)

        @api.get(f"/requests/{{request_id}}.{fmt}")
        async def get_request(request_id: str) -> Response:
            """One complaint, as a one-element list (as the spec says)."""
            code = request_id.strip().upper()
            found = await run_in_threadpool(plugin.find, o311.Filters(codes=[code], limit=1))
            if not found:
                raise Open311Error(404, f"no service request {request_id[:40]!r}")
            return answer(found, fmt, REQUESTS)

        @api.post(
            f"/privacy/delete.{fmt}",
            responses={
                200: {"description": '[{"requests_affected": n}]'},
                400: {"description": "Neither email nor phone, or a malformed one"},
                401: {"description": "api_key missing"},
                403: {"description": "api_key not accepted"},
            },
        )
        async def delete_personal_data(request: Request) -> Response:
            """A submitter's deletion request (an extension of GeoReport v2), fields as for
            requests: api_key, `email` and/or `phone`, optionally `service_request_id` (one
            or several, comma-separated) to act only there. The contact, the citizen record
            and every copy of the e-mail, phone and name are erased from the submitter's
            requests; the complaints stay, anonymous. Answers how many requests were
            affected (0 when none: asking again is harmless)."""
            data, given = await plugin.keyed_fields(request)
            deletion = parse_deletion(data)
            affected = await run_in_threadpool(plugin.forget, deletion, given)
            return answer([{"requests_affected": affected}], fmt, DELETIONS)

    async def keyed_fields(self, request: Request) -> tuple[dict[str, Any], str]:
        """The body's fields and the accepted API key (header, query or `api_key` field)."""
        given = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if given is not None:
            self.check_key(given)
        data = await read_fields(request)
        if given is None:
            body_key = data.get("api_key")
            self.check_key(body_key if isinstance(body_key, str) else "")
            given = str(body_key)
        return data, given

    def check_key(self, given: str) -> None:
        if not given:
            raise Open311Error(401, "api_key missing")
        if not key_accepted(given, self.settings.open311_api_keys):
            raise Open311Error(403, "api_key not accepted")


def _key(*parts: str) -> str:
    """A complaint's idempotency key (Complaint.key, 64 characters at most)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"o311:{digest[:48]}"
