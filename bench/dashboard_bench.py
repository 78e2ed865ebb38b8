"""Console dashboard benchmark (issue 15): server time of the analyst dashboard's requests over
millions of answers on PostgreSQL, read from the rollup (reports/rollup.py).

- A database seeded by `demo.surveys.seed_surveys` (--answers, default 10,000,000; about 4 min
  on PostgreSQL here), or an existing one given by --db (migrated, then used as is).
- The rollup rebuilt once in full and once for the recent months, both timed (what `hailong
  serve` does in the background); the server runs with REPORT_ROLLUP_SECONDS=0 so that no
  rebuild falls inside the timed requests.
- The server, the timing header and the load generator are those of bench/console_bench.py:
  `hailong serve`'s app, 2 uvicorn workers on CPU 0, httpx clients on CPU 1 signed in as an
  analyst, views interleaved round by round, 1 then 4 concurrent clients.
- Views: the dashboard page, and the three JSON requests its script makes (satisfaction by
  unit and unit × procedure for a month, or for an odd range of days; unit × month over 12
  months; complaints by unit), plus the 12-month request with 30 different end days, so that
  most of its requests miss the per-build JSON cache (each is built from the rollup).

Usage: .venv/bin/python bench/dashboard_bench.py [--db URL | --answers N] [--requests 100]
Writes bench/results/dashboard.md (--out another file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.console_bench import (  # noqa: E402
    ADMIN_URL,
    EMAIL,
    PASSWORD,
    TARGET_MS,
    _commit,
    _log,
    load,
    running_server,
)

RESULTS = ROOT / "bench" / "results" / "dashboard.md"
DB_NAME = "hailong_dashboard_bench"
TODAY = date(2026, 12, 4)


def prepare(url: str, answers: int | None) -> dict[str, Any]:
    """Migrate (and seed when `answers`), add the analyst, rebuild the rollup (timed)."""
    import sqlalchemy as sa

    from base.settings import Settings
    from console.sessions import hash_password
    from demo.surveys import seed_surveys
    from reports import rollup
    from reports.cli import rollup_spec
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    out: dict[str, Any] = {}
    if answers:
        t0 = time.perf_counter()
        seed_surveys(engine, answers=answers, seed=1, progress=True)
        out["seed_s"] = round(time.perf_counter() - t0, 1)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    with engine.begin() as conn:
        out["answers"] = conn.execute(sa.text("SELECT count(*) FROM answer")).scalar_one()
        conn.execute(sa.text("DELETE FROM staff WHERE email = :e"), {"e": EMAIL})
        conn.execute(
            sa.text(
                "INSERT INTO staff (name, role, email, password_hash, active, created_at) "
                "VALUES ('Bench analyst', 'analyst', :e, :h, true, now())"
            ),
            {"e": EMAIL, "h": hash_password(PASSWORD)},
        )
    spec = rollup_spec(engine, Settings(database_url=url))
    for full in (True, False):
        done = rollup.rebuild(engine, spec, full=full)
        assert done is not None, "the rollup's lease is held by another process"
        key = "rollup_full" if full else "rollup_recent"
        out[key] = {"rows": done.rows, "seconds": round(done.seconds, 1), "since": str(done.since)}
        _log(f"{key}: {out[key]}")
    engine.dispose()
    return out


def views() -> dict[str, list[str]]:
    sat = "/console/api/satisfaction"
    month = "from=2026-11-01&to=2026-11-30"
    year = f"from={date(2025, 12, 1)}&to={TODAY}"
    ends = [TODAY - timedelta(days=i) for i in range(30)]
    return {
        "dashboard page": ["/console/dashboard"],
        "by unit and unit × procedure, one month": [f"{sat}?by=unit&by=unit,procedure&{month}"],
        "by unit and unit × procedure, 13 Sep-21 Nov": [
            f"{sat}?by=unit&by=unit,procedure&from=2026-09-13&to=2026-11-21"
        ],
        "unit × month, 12 months": [f"{sat}?by=unit,month&{year}"],
        "unit × month, 12 months, 30 end days (cache misses)": [
            f"{sat}?by=unit,month&from=2025-12-01&to={end}" for end in ends
        ],
        "complaints by unit, one month": [f"/console/api/complaints?by=unit&{month}"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="an existing database (migrated, then used as is)")
    parser.add_argument("--answers", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=100, help="per view")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from storage.db import make_engine

    if args.db:
        url, answers = args.db, None
    else:
        url, answers = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}", args.answers
        admin = make_engine(ADMIN_URL)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {DB_NAME}")
        admin.dispose()
    data = prepare(url, answers)
    # No background rebuild inside the timed requests (its cost is timed above).
    with running_server(url, args.workers, REPORT_ROLLUP_SECONDS="0") as base:
        concurrency = [int(c) for c in args.clients.split(",")]
        results = asyncio.run(load(base, views(), args.requests, concurrency, args.rounds))
    write(args.out, data, results, args)


def write(out: Path, data: dict[str, Any], results: dict[str, Any], args: Any) -> None:
    lines = [
        "# Console dashboard benchmark (issue 15)",
        "",
        f"`bench/dashboard_bench.py --requests {args.requests}` at commit {_commit()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs, "
        "PostgreSQL on 127.0.0.1; `hailong serve`'s app, "
        f"{args.workers} uvicorn workers on CPU 0, httpx clients on CPU 1.",
        "",
        f"Data: {data['answers']:,} answers"
        + (f", seeded in {data['seed_s']} s" if "seed_s" in data else "")
        + f". Rollup: full rebuild {data['rollup_full']['rows']:,} rows in "
        f"{data['rollup_full']['seconds']} s; recent months (from "
        f"{data['rollup_recent']['since']}) {data['rollup_recent']['rows']:,} rows in "
        f"{data['rollup_recent']['seconds']} s (what `hailong serve` runs every "
        "REPORT_ROLLUP_SECONDS and REPORT_ROLLUP_FULL_MINUTES).",
        "",
        "Server time (ms): from the request reaching the app to the end of its body "
        "(`Server-Timing`); client time on loopback beside it. Target p95 < "
        f"{TARGET_MS:.0f} ms.",
        "",
        "| view | n | server p50 | p95 | max | client p50 | p95 | load1 | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        ok = "ok" if r["server"]["p95"] < TARGET_MS else "**missed**"
        lines.append(
            f"| {name} | {r['n']} | {r['server']['p50']} | {r['server']['p95']} | "
            f"{r['server']['max']} | {r['client']['p50']} | {r['client']['p95']} | "
            f"{r['load1']} | {ok} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _log(f"wrote {out}")


if __name__ == "__main__":
    main()
