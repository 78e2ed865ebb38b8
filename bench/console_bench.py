"""Console inbox benchmark (issue 15): server time of the unit inbox and a complaint's page on
PostgreSQL, for a unit holding 100,000 complaints among 200,000.

- A scratch database `hailong_console_bench` (created, migrated, catalogued, dropped at the
  end unless --keep): 200,000 complaints COPY-inserted, half of them at one unit (SXD), the
  rest spread over the other units; plausible statuses (about a third open, the rest
  answered, rated or rejected), received over two years, due 15 days after, wards from the
  gazetteer (40 wards for the unit), masked texts from the router's seed corpus naming a
  ward, some with a masked phone number. VACUUM ANALYZE after.
- The server: the app of `hailong serve` (`hailong.server.create_app`), two uvicorn workers
  pinned to CPU 0 when there are two CPUs, wrapped by this script in a bench-only ASGI
  middleware that adds `Server-Timing: app;dur=<ms>`: the time from the request reaching the
  app to the last byte of the body handed to uvicorn, in the server process. That is the
  figure reported (client time on loopback is shown beside it).
- The load: httpx clients (CPU 1), each signed in through the form as a staff member of
  SXD. --rounds rounds (default 5), each requesting every view in turn (--requests per view
  in all, after a warm-up), so the shared machine's drifting load falls on all views alike;
  one pass with 1 client (the server's own time), one with 4 concurrent clients (--clients).
- Views: the inbox's first page, page 200 (rows 4,976-5,000 in due order), the overdue
  filter, a ward filter, a text search that matches many and one that matches nothing (the
  worst case: every one of the unit's texts is read), and a complaint's page.

Usage: .venv/bin/python bench/console_bench.py [--requests 100] [--keep]
Writes bench/results/console.md (--out another file).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

RESULTS = ROOT / "bench" / "results" / "console.md"
ADMIN_URL = os.environ.get(
    "HAILONG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)
DB_NAME = "hailong_console_bench"
UNIT = "SXD"
EMAIL = "bench@sxd.gov.vn"
PASSWORD = "mật-khẩu-bench-đủ-dài-42"
SECRET = "b" * 40
CLIENTS = 4
TARGET_MS = 200.0


# --- the app, with its server time in a header (bench only) -------------------------------------


class ServerTiming:
    """Plain ASGI: `Server-Timing: app;dur=` on every response, measured to the end of the
    body. Headers leave before the body, so the response is held here until its last byte
    (fine for pages of a few tens of kB) and sent with the header added."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def buffered(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                ms = (time.perf_counter() - t0) * 1000
                headers = list(start.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": b"".join(body)})
                return
            await send(message)

        await self.app(scope, receive, buffered)


def timed_app() -> Any:
    """`hailong serve`'s app (settings from the environment) inside `ServerTiming`."""
    from hailong.server import create_app

    return ServerTiming(create_app())


def _serve(port: int, workers: int) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from hailong.server import _Config

    config = _Config(
        "bench.console_bench:timed_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


# --- the data ------------------------------------------------------------------------------------


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _texts(n: int, rng: random.Random) -> list[str]:
    with open(ROOT / "nlp" / "data" / "seed_corpus.csv", encoding="utf-8") as f:
        corpus = [r["text"] for r in csv.DictReader(f)]
    return [corpus[rng.randrange(len(corpus))] for _ in range(n)]


STATUSES = [  # (status, weight): a third open
    ("routed", 8),
    ("accepted", 14),
    ("info_requested", 4),
    ("reopened", 2),
    ("triage", 1),
    ("answered", 25),
    ("rated", 38),
    ("rejected", 8),
]


def seed(url: str, total: int, at_unit: int) -> dict[str, Any]:
    """Migrate, catalogue, a staff login at UNIT, and `total` complaints (`at_unit` at UNIT)."""
    import sqlalchemy as sa

    from bot.engine.complaint import ward_by_code
    from console.sessions import hash_password
    from storage import complaints as store
    from storage import migrate
    from storage.catalogue import load_catalogue, upsert_catalogue
    from storage.db import make_engine, session_scope
    from storage.models import Complaint, table
    from storage.types import utcnow

    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
        store.add_staff(
            session,
            name="Cán bộ bench",
            unit_code=UNIT,
            role="staff",
            telegram_id=None,
            email=EMAIL,
            password_hash=hash_password(PASSWORD),
        )
    with engine.connect() as conn:
        units = {str(c): int(i) for i, c in conn.execute(sa.text("SELECT id, code FROM unit"))}
    target = units[UNIT]
    others = [i for c, i in units.items() if c != UNIT]
    rng = random.Random(15)
    all_wards = sorted((w.code, w.full_name) for w in ward_by_code().values())
    unit_wards = rng.sample(all_wards, 40)
    texts = _texts(4000, rng)
    now = utcnow()
    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    t = table(Complaint)
    columns = [c.name for c in t.columns if c.name != "id"]
    json_cols = {"units_involved", "candidates", "photos"}

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(total):
            mine = i % (total // at_unit) == 0 if at_unit < total else True
            unit_id = target if mine else others[i % len(others)]
            status = rng.choices(statuses, weights)[0]
            closed = status in ("answered", "rated", "rejected")
            # Open ones are recent (some overdue); closed ones over the last two years.
            age = rng.uniform(0, 40) if not closed else rng.uniform(3, 730)
            received = now - timedelta(days=age)
            due = received + timedelta(days=15)
            code, name = rng.choice(unit_wards if mine else all_wards)
            text = f"{texts[i % len(texts)]} Địa chỉ: {name}."
            if i % 7 == 0:
                text += " Liên hệ [SĐT]."
            year, seq = 2024 + i // 900_000, i % 900_000 + 1
            yield {
                "key": f"cb{i}",
                "code": f"PA-{year}-{seq:06d}",
                "year": year,
                "seq": seq,
                "status": status,
                "track": "pakn",
                "anonymous": False,
                "origin": "chat",
                "unit_id": unit_id,
                "units_involved": [],
                "predicted_unit": UNIT if mine else None,
                "confidence": round(rng.uniform(0.5, 0.99), 3),
                "candidates": [[UNIT, 0.8], ["SNNMT", 0.1]] if mine else [],
                "routed_automatically": True,
                "ward_code": code,
                "ward_name": name,
                "text": text,
                "masked_text": text,
                "channel": "telegram",
                "external_id": str(100_000 + i),
                "photos": [],
                "received_at": received,
                "due_at": due,
                "accepted_at": received + timedelta(hours=5) if status != "routed" else None,
                "answered_at": received + timedelta(days=9) if closed else None,
                "closed_at": received + timedelta(days=9) if closed else None,
                # As if the scheduler had caught up (reminded, escalated): nothing due during
                # the run, or it would update thousands of rows (and clear the visibility
                # map the pages' index-only scan needs) while the views are timed.
                "next_check_at": now + timedelta(days=30) if not closed else None,
                "reminded": not closed and due - timedelta(days=2) < now,
                "escalated": not closed and due < now,
                "reopened": 0,
                "transfers": 0,
                "triage_alarmed": False,
                "version": 0,
                "updated_at": received,
            }

    _log(f"inserting {total:,} complaints, {at_unit:,} at {UNIT}")
    t0 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY complaint ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows():
                copy.write_row([json.dumps(r[c]) if c in json_cols else r.get(c) for c in columns])
        raw.driver_connection.commit()  # type: ignore[union-attr]
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE complaint")
    insert_s = time.perf_counter() - t0
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text(
                    "SELECT count(*) FILTER (WHERE unit_id = :u) AS at_unit, count(*) AS total,"
                    " count(*) FILTER (WHERE unit_id = :u AND due_at < :now AND status IN"
                    " ('triage','routed','accepted','info_requested','reopened')) AS overdue"
                    " FROM complaint"
                ),
                {"u": target, "now": now},
            )
            .mappings()
            .one()
        )
        ids = [
            int(r[0])
            for r in conn.execute(
                sa.text("SELECT id FROM complaint WHERE unit_id = :u ORDER BY random() LIMIT 500"),
                {"u": target},
            )
        ]
    engine.dispose()
    ward = unit_wards[0][0]
    return {
        "insert_s": round(insert_s, 1),
        "at_unit": counts["at_unit"],
        "total": counts["total"],
        "overdue": counts["overdue"],
        "ward": ward,
        "ids": ids,
    }


# --- the load ------------------------------------------------------------------------------------


@contextmanager
def running_server(url: str, workers: int, **env: str) -> Iterator[str]:
    """`hailong serve`'s timed app on `url`'s database in a child process pinned to CPU 0 (this
    process, the load generator, moves to CPU 1); yields its base URL once it answers."""
    import httpx

    port = _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "CONSOLE_SECRET": SECRET,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    code = f"from bench.console_bench import _serve; _serve({port}, {workers})"
    server = subprocess.Popen(
        [*_taskset("0"), sys.executable, "-c", code], env=environment, cwd=ROOT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/console/login", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {1})  # the load generator off the server's CPU
        yield base
    finally:
        server.terminate()
        server.wait(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if (os.cpu_count() or 1) >= 2 else []


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TIMING = re.compile(r"app;dur=([0-9.]+)")


async def _signed_in(base: str) -> Any:
    import httpx

    client = httpx.AsyncClient(base_url=base, timeout=60)
    form = await client.get("/console/login")
    token = _CSRF.search(form.text)
    assert token is not None, form.text[:300]
    response = await client.post(
        "/console/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf": token.group(1)},
    )
    assert response.status_code == 303, response.text[:300]
    return client


async def _view(
    clients: list[Any], paths: list[str], requests: int, into: dict[str, list[float]]
) -> None:
    """`requests` GETs of `paths` (in turn) spread over `clients`, timings added to `into`."""

    async def worker(i: int) -> None:
        for k in range(i, requests, len(clients)):
            path = paths[(len(into["server"]) + k) % len(paths)]
            t0 = time.perf_counter()
            response = await clients[i].get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (path, response.status_code)
            found = _TIMING.search(response.headers.get("server-timing", ""))
            assert found is not None
            into["server"].append(float(found.group(1)))
            into["client"].append(elapsed)

    await asyncio.gather(*(worker(i) for i in range(len(clients))))


async def load(
    base: str, views: dict[str, list[str]], requests: int, concurrency: list[int], rounds: int
) -> dict[str, Any]:
    """At each concurrency, `rounds` rounds each running every view in turn (so a drift of
    the shared machine's load falls on all views alike), `requests` GETs a view in all,
    after a warm-up round."""
    clients = [await _signed_in(base) for _ in range(max(concurrency))]
    out: dict[str, Any] = {}
    try:
        for c in concurrency:
            for paths in views.values():  # warm-up
                await _view(clients[:c], paths, c * 3, {"server": [], "client": []})
            got: dict[str, dict[str, list[float]]] = {
                name: {"server": [], "client": [], "load": []} for name in views
            }
            for _ in range(rounds):
                for name, paths in views.items():
                    got[name]["load"].append(os.getloadavg()[0])
                    await _view(clients[:c], paths, max(1, requests // rounds), got[name])
            for name, paths in views.items():
                key = f"{name} ({c} client{'s' if c > 1 else ''})"
                out[key] = {
                    "path": paths[0],
                    "n": len(got[name]["server"]),
                    "server": _summary(got[name]["server"]),
                    "client": _summary(got[name]["client"]),
                    "load1": round(statistics.mean(got[name]["load"]), 2),
                }
                _log(f"{key}: {out[key]['server']} (client {out[key]['client']})")
    finally:
        for client in clients:
            await client.aclose()
    return out


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(pct(95), 1),
        "max": round(ordered[-1], 1),
    }


def explain(url: str, unit_id_sql: str, now: Any) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the inbox sends (its count, then its page)
    for the overdue filter and the text searches."""
    from sqlmodel import Session

    from storage import console as queries
    from storage.db import make_engine

    engine = make_engine(url)
    plans: dict[str, str] = {}
    with Session(engine) as db:
        unit_id = int(db.connection().exec_driver_sql(unit_id_sql).scalar_one())
        filters = {
            "overdue filter": queries.InboxFilter(unit_id=unit_id, overdue=True),
            "text search, common word": queries.InboxFilter(unit_id=unit_id, text="đèn"),
            "text search, no match": queries.InboxFilter(unit_id=unit_id, text="zzzkhongco"),
        }
        for name, f in filters.items():
            sent: list[Any] = []
            real_exec, real_execute = db.exec, db.execute

            def spy_exec(
                statement: Any, *a: Any, _r: Any = real_exec, _s: list[Any] = sent, **k: Any
            ) -> Any:
                _s.append(statement)
                return _r(statement, *a, **k)

            def spy_execute(
                statement: Any, *a: Any, _r: Any = real_execute, _s: list[Any] = sent, **k: Any
            ) -> Any:
                _s.append(statement)
                return _r(statement, *a, **k)

            db.exec, db.execute = spy_exec, spy_execute  # type: ignore[method-assign]
            queries.inbox(db, f, now)
            db.exec, db.execute = real_exec, real_execute  # type: ignore[method-assign]
            for part, statement in zip(("count", "page"), sent, strict=False):
                compiled = statement.compile(
                    dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
                )
                plan = db.connection().exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params
                )
                plans[f"{name}: {part}"] = "\n".join(str(r[0]) for r in plan)
    engine.dispose()
    return plans


# --- the run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=200_000)
    parser.add_argument("--at-unit", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100, help="per view")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="views interleaved, round by round")
    parser.add_argument(
        "--clients", default=f"1,{CLIENTS}", help="concurrent clients, one pass per number"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="use the kept database as is")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--without-0015",
        action="store_true",
        help="drop revision 0015's indexes first (the figures before them)",
    )
    args = parser.parse_args()

    import sqlalchemy as sa

    from storage.db import make_engine
    from storage.types import utcnow

    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
    admin = make_engine(ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}
        ).first()
        if exists and not args.reuse:
            conn.exec_driver_sql(f"DROP DATABASE {DB_NAME} WITH (FORCE)")
        if not exists or not args.reuse:
            conn.exec_driver_sql(f"CREATE DATABASE {DB_NAME}")
    admin.dispose()
    data_file = Path(f"/tmp/{DB_NAME}.json")
    if args.reuse and data_file.exists():
        data = json.loads(data_file.read_text())
    else:
        data = seed(url, args.total, args.at_unit)
        data_file.write_text(json.dumps(data))
    _log(f"data: { {k: v for k, v in data.items() if k != 'ids'} }")
    if args.without_0015:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_complaint_unit_open_due")
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_complaint_text_trgm")
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_complaint_unit_due_coded")
        engine.dispose()
    # Index-only scans (the inbox's pages) need the visibility map, which autovacuum keeps in
    # a running database; the VACUUM right after the COPY can leave it unset when another
    # session's transaction was open (the PostgreSQL here is shared): 85,400 heap fetches
    # for the last page then, 0 after this one.
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM complaint")
    engine.dispose()

    with running_server(url, args.workers) as base:
        ids = data["ids"]
        views = {
            "inbox, first page": ["/console"],
            "inbox, page 200": ["/console?page=200"],
            "inbox, page 4000 (the last)": ["/console?page=4000"],
            "overdue filter": ["/console?overdue=1"],
            "ward filter": [f"/console?ward={data['ward']}"],
            "text search, common word": ["/console?q=%C4%91%C3%A8n"],  # «đèn»
            "text search, no match": ["/console?q=zzzkhongco"],
            "complaint page": [f"/console/c/{i}" for i in ids],
        }
        concurrency = [int(c) for c in args.clients.split(",")]
        results = asyncio.run(load(base, views, args.requests, concurrency, args.rounds))
    unit_sql = f"SELECT id FROM unit WHERE code = '{UNIT}'"
    plans = explain(url, unit_sql, utcnow())
    if not args.keep:
        admin = make_engine(ADMIN_URL)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin.dispose()
    write(args.out, data, results, plans, args)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def write(
    out: Path,
    data: dict[str, Any],
    results: dict[str, Any],
    plans: dict[str, str],
    args: argparse.Namespace,
) -> None:
    flag = " --without-0015" if args.without_0015 else ""
    before = " **without revision 0015's indexes**" if args.without_0015 else ""
    lines = [
        "# Console inbox benchmark (issue 15)",
        "",
        f"`bench/console_bench.py --requests {args.requests}{flag}` at commit {_commit()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{before}; "
        f"{os.cpu_count()} CPUs, PostgreSQL on 127.0.0.1; `hailong serve`'s app, "
        f"{args.workers} uvicorn workers on CPU 0, httpx clients ({args.clients} at once) "
        "on CPU 1.",
        "",
        f"Data: {data['total']:,} complaints, {data['at_unit']:,} at {UNIT} "
        f"({data['overdue']:,} of them open and overdue), inserted by COPY in "
        f"{data['insert_s']} s.",
        "",
        "**Server time**: from the request reaching the app to the end of its body, measured in "
        "the server process by a bench-only ASGI wrapper (`Server-Timing: app;dur=`); the "
        "client's time on loopback beside it. Target p95 < 200 ms. Views interleaved in "
        f"{args.rounds} rounds; load1 is the mean 1-minute load average at the view's turns.",
        "",
        "| view | request | n | server p50 | p95 | max | client p50 | p95 | load1 | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        s, c = r["server"], r["client"]
        ok = "ok" if s["p95"] < TARGET_MS else "**missed**"
        lines.append(
            f"| {name} | `{r['path']}` | {r['n']} | {s['p50']} | {s['p95']} | {s['max']} | "
            f"{c['p50']} | {c['p95']} | {r['load1']} | {ok} |"
        )
    lines += ["", "## Plans", ""]
    for name, plan in plans.items():
        lines += [f"{name}:", "", "```", plan, "```", ""]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _log(f"wrote {out}")


if __name__ == "__main__":
    main()
