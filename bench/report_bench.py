"""Report and export benchmark on a scratch database of simulated surveys.

    python bench/report_bench.py --answers 1000000 [--db sqlite|postgres|both]

For each database it seeds a fresh scratch database (a SQLite file in a temp dir, or the
PostgreSQL database `hailong_bench`, dropped and re-created), then measures in the same run:

a. `hailong report --format json --by unit,month` as a child process (wall time);
b. the floor: hand-written SQL computing the same figures (criterion counts by
   unit x month x statement, the Decision 766 dossier ratio, the three-level distribution);
c. `hailong export --format csv|xlsx` to a file: wall time and the child's peak RSS, at the
   full size and at a smaller size, to show that memory stays bounded.

Prints a table and writes a Markdown summary (default bench/results/report_bench.md).
Targets: report within 1.5x of the floor; export peak RSS about the same at both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from demo.surveys import seed_surveys  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "HAILONG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)
PG_BENCH_DB = "hailong_bench"
RESULTS = ROOT / "bench" / "results" / "report_bench.md"
TARGET_RATIO = 1.5


def _month(column: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"strftime('%Y-%m', {column})"
    return f"to_char(date_trunc('month', {column} AT TIME ZONE 'UTC'), 'YYYY-MM')"


def floor_queries(dialect: str) -> dict[str, str]:
    """The hand-written SQL that produces every figure of the unit x month report."""
    sat = "a.satisfied" if dialect == "sqlite" else "a.satisfied::int"
    return {
        # Criterion rate per statement: SUM(satisfied) / COUNT(valid), valid = answered likert5.
        "criteria": f"""
            SELECT r.unit_id, {_month("r.started_at", dialect)} AS month, a.question_code,
                   a.element_code, COUNT(*) AS n, SUM({sat}) AS satisfied
            FROM answer a JOIN survey_response r ON r.id = a.response_id
            WHERE a.kind = 'likert5' AND a.status = 'answered' AND a.element_code IS NOT NULL
            GROUP BY r.unit_id, month, a.question_code, a.element_code""",
        # Decision 766: dossiers by completion month, minus those rated "không hài lòng" or
        # finished late, each dossier counted once.
        "ratio_766": f"""
            SELECT d.unit_id, {_month("d.completed_at", dialect)} AS month, COUNT(*) AS dossiers,
                   SUM(CASE WHEN d.completed_at > d.due_at OR EXISTS (
                         SELECT 1 FROM survey_response r JOIN answer a ON a.response_id = r.id
                         WHERE r.dossier_id = d.id AND r.questionnaire_code = 'danh-gia-ho-so'
                           AND a.question_code = 'DG' AND a.choice = 'khong_hai_long'
                       ) THEN 1 ELSE 0 END) AS failed
            FROM dossier d WHERE d.completed_at IS NOT NULL
            GROUP BY d.unit_id, month""",
        # Respondents per group: distinct responses with a valid statement answer.
        "respondents": f"""
            SELECT r.unit_id, {_month("r.started_at", dialect)} AS month,
                   COUNT(DISTINCT a.response_id)
            FROM answer a JOIN survey_response r ON r.id = a.response_id
            WHERE a.kind = 'likert5' AND a.status = 'answered' AND a.element_code IS NOT NULL
            GROUP BY r.unit_id, month""",
        # Three-level distribution of the per-dossier rating.
        "rating3": f"""
            SELECT r.unit_id, {_month("r.started_at", dialect)} AS month, a.choice, COUNT(*)
            FROM answer a JOIN survey_response r ON r.id = a.response_id
            WHERE a.kind = 'rating3' AND a.status = 'answered'
            GROUP BY r.unit_id, month, a.choice""",
    }


@dataclass
class Timing:
    """Wall seconds of repeated runs; the median is reported."""

    runs: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stderr: str
    output_bytes: int = 0


@dataclass
class DbResult:
    db: str
    answers: int
    seed_seconds: float = 0.0
    report: Timing = field(default_factory=Timing)
    startup: Timing = field(default_factory=Timing)
    floor: Timing = field(default_factory=Timing)
    floor_parts: dict[str, float] = field(default_factory=dict)
    exports: dict[str, ChildRun] = field(default_factory=dict)  # "csv@1000000" -> run
    notes: list[str] = field(default_factory=list)


def hailong_cmd() -> list[str]:
    """The installed `hailong` script beside this interpreter, else `python -m hailong.cli`."""
    script = Path(sys.executable).parent / "hailong"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hailong.cli"]


# Runs the measured command and reports its peak RSS. Linux carries the parent's RSS high-water
# mark into a forked child's ru_maxrss, so measuring straight from this (large) process would
# report our own memory; this small fresh interpreter is the parent instead (~10 MB floor).
_RSS_WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(args: Sequence[str], env: dict[str, str], stdout_path: Path | None) -> ChildRun:
    """Run a child process; wall time and its own peak RSS (ru_maxrss from wait4)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        wrapped = [sys.executable, "-c", _RSS_WRAPPER, rss_file.name, *args]
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            started = time.perf_counter()
            proc = subprocess.run(wrapped, env=env, stdout=out, stderr=subprocess.PIPE, check=False)
            seconds = time.perf_counter() - started
        finally:
            if stdout_path:
                out.close()  # type: ignore[union-attr]
        raw = Path(rss_file.name).read_text().strip()
    size = stdout_path.stat().st_size if stdout_path and stdout_path.exists() else 0
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    kib = int(raw or 0) / (1024 if platform.system() == "Darwin" else 1)
    return ChildRun(
        seconds, kib / 1024, proc.returncode, proc.stderr.decode(errors="replace"), size
    )


def timed(fn: Callable[[], object], repeat: int) -> Timing:
    """Wall time of `repeat` in-process calls of `fn`."""
    t = Timing()
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        t.runs.append(time.perf_counter() - started)
    return t


def scratch_database(
    kind: str, tmp: Path, suffix: str, pg_db: str = PG_BENCH_DB
) -> tuple[str, Callable[[], None]]:
    """A fresh empty database URL and a function that removes it."""
    if kind == "sqlite":
        path = tmp / f"bench{suffix}.db"
        return f"sqlite:///{path}", lambda: None
    name = f"{pg_db}{suffix}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def seed(url: str, answers: int, progress: bool) -> tuple[Engine, float]:
    """Migrate the scratch database and fill it with `answers` simulated answers."""
    engine = make_engine(url)
    upgrade(engine)
    result = seed_surveys(engine, answers=answers, seed=1, progress=progress)
    # A fresh pool: the floor must not reuse a connection tuned for the bulk load.
    engine.dispose()
    return engine, result.seconds


def export_args(fmt: str, path: Path) -> tuple[list[str], Path | None]:
    """CLI arguments for `hailong export` to `path`; stdout redirection if no --output flag."""
    help_text = subprocess.run(
        [*hailong_cmd(), "export", "--help"], capture_output=True, text=True, check=False
    ).stdout
    for flag in ("--output", "--out", "-o"):
        if flag in help_text:
            return [*hailong_cmd(), "export", "--format", fmt, flag, str(path)], None
    return [*hailong_cmd(), "export", "--format", fmt], path


def measure_exports(
    res: DbResult, url: str, env: dict[str, str], tmp: Path, size: int, formats: Sequence[str]
) -> None:
    """Time each export format to a file and record its peak RSS under `size`."""
    for fmt in formats:
        path = tmp / f"export_{res.db}_{size}.{fmt}"
        args, stdout_path = export_args(fmt, path)
        run = run_child(args, {**env, "DATABASE_URL": url}, stdout_path)
        run.output_bytes = path.stat().st_size if path.exists() else 0
        res.exports[f"{fmt}@{size}"] = run
        if run.returncode != 0:
            res.notes.append(f"export {fmt} at {size}: exit {run.returncode}: {run.stderr[-300:]}")
        path.unlink(missing_ok=True)


def bench_db(kind: str, args: argparse.Namespace, tmp: Path) -> DbResult:
    """Seed, then time floor, report and exports on one kind of database."""
    res = DbResult(db=kind, answers=args.answers)
    env = dict(os.environ)
    url, drop = scratch_database(kind, tmp, "", args.pg_db)
    try:
        print(f"[{kind}] seeding {args.answers:,} answers ...", flush=True)
        engine, res.seed_seconds = seed(url, args.answers, progress=not args.quiet)
        env["DATABASE_URL"] = url
        # (b) the floor, first warm-up run discarded for both sides so caches are equal.
        queries = floor_queries(engine.dialect.name)

        floor_rows: dict[str, list[Any]] = {}

        def run_floor() -> None:
            with engine.connect() as conn:
                for name, sql in queries.items():
                    started = time.perf_counter()
                    floor_rows[name] = list(conn.exec_driver_sql(sql).fetchall())
                    res.floor_parts[name] = time.perf_counter() - started

        run_floor()
        res.floor = timed(run_floor, args.repeat)
        # Python start-up and imports of the CLI: part of what a user waits for, not of SQL.
        res.startup = Timing(
            runs=[
                run_child([*hailong_cmd(), "--help"], env, None).seconds for _ in range(args.repeat)
            ]
        )
        # (a) the real report.
        report_args = [*hailong_cmd(), "report", "--format", "json", "--by", "unit,month"]
        out = tmp / f"report_{kind}.json"
        first = run_child(report_args, env, out)
        if first.returncode != 0:
            res.report.error = f"exit {first.returncode}: {first.stderr.strip()[-400:]}"
        else:
            res.notes.append(cross_check(out, floor_rows))
            for _ in range(args.repeat):
                run = run_child(report_args, env, out)
                if run.returncode != 0:  # a failed run is not a fast run
                    res.report.error = f"exit {run.returncode}: {run.stderr.strip()[-400:]}"
                    res.report.runs.clear()
                    break
                res.report.runs.append(run.seconds)
        # (c) exports at full size, then at the smaller size for the memory comparison.
        formats = [f for f in ("csv", "xlsx") if f in args.formats]
        if res.report.error is None or args.force_exports:
            measure_exports(res, url, env, tmp, args.answers, formats)
        engine.dispose()
    finally:
        drop()
    if args.small and formats:
        small_url, small_drop = scratch_database(kind, tmp, "_small", args.pg_db)
        try:
            small_engine, _ = seed(small_url, args.small, progress=False)
            small_engine.dispose()
            measure_exports(res, small_url, env, tmp, args.small, formats)
        finally:
            small_drop()
    return res


def cross_check(report_json: Path, floor_rows: dict[str, list[Any]]) -> str:
    """Compare the report's totals with the floor's, so both sides compute the same thing."""
    try:
        data = json.loads(report_json.read_text(encoding="utf-8"))
        rows = next(b["rows"] for b in data["breakdowns"] if b["by"] == ["unit", "month"])
        got = {
            "criteria n": sum(c["n"] for r in rows for c in r["criteria"].values()),
            "respondents": sum(r["respondents"] for r in rows),
            "766 dossiers": sum(r["dossiers"] for r in data["ratio_766"]),
            "rating3 n": sum(r["n"] for r in data["rating3"]),
        }
    except (KeyError, StopIteration, TypeError, ValueError) as exc:
        return f"cross-check skipped: report JSON not in the expected shape ({exc!r})"
    want = {
        "criteria n": sum(r[4] for r in floor_rows["criteria"]),
        "respondents": sum(r[2] for r in floor_rows["respondents"]),
        "766 dossiers": sum(r[2] for r in floor_rows["ratio_766"]),
        "rating3 n": sum(r[3] for r in floor_rows["rating3"]),
    }
    diffs = [f"{k}: report {got[k]} vs floor {want[k]}" for k in want if got[k] != want[k]]
    if diffs:
        return "cross-check MISMATCH: " + "; ".join(diffs)
    return (
        "cross-check OK: report totals equal the floor's ("
        + ", ".join(f"{k} {v:,}" for k, v in want.items())
        + ")"
    )


def fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def render(results: list[DbResult], args: argparse.Namespace) -> str:
    """The Markdown summary: one table per database, ratios against the floor."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Report benchmark",
        "",
        f"Run {now} on {platform.node()} ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}), `python bench/report_bench.py --answers {args.answers}`; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine makes "
        "absolute times noisy; floor and report run back to back, so the ratio is steadier).",
        "Report: `hailong report --format json --by unit,month` (median of "
        f"{args.repeat} runs after a warm-up). Floor: the hand-written SQL of the same figures "
        "(criterion counts by unit x month x statement, respondents, Decision 766 ratio, "
        "three-level rating distribution), run in-process. Start-up: `hailong --help`, the "
        "interpreter and import cost every CLI call pays. "
        f"Target: report <= {TARGET_RATIO}x floor.",
        "",
    ]
    for r in results:
        lines += [f"## {r.db} — {r.answers:,} answers", ""]
        lines += [
            "| measure | time | ratio to floor |",
            "|---|---|---|",
            f"| seeding (bulk generator) | {fmt_s(r.seed_seconds)} | "
            f"{r.answers / max(r.seed_seconds, 1e-9):,.0f} answers/s |",
            f"| floor SQL (total) | {fmt_s(r.floor.median)} | 1.00 |",
        ]
        for name, secs in r.floor_parts.items():
            lines.append(f"| &nbsp;&nbsp;floor: {name} (last run) | {fmt_s(secs)} | |")
        lines.append(f"| CLI start-up (`hailong --help`) | {fmt_s(r.startup.median)} | |")
        if r.report.error:
            lines.append(f"| `hailong report` | failed: {r.report.error} | |")
        elif r.report.median is not None and r.floor.median:
            ratio = r.report.median / r.floor.median
            net = (r.report.median - (r.startup.median or 0)) / r.floor.median
            verdict = "meets" if ratio <= TARGET_RATIO else "misses"
            lines.append(
                f"| `hailong report` | {fmt_s(r.report.median)} | **{ratio:.2f}x** "
                f"({verdict} {TARGET_RATIO}x); {net:.2f}x without start-up |"
            )
        lines.append("")
        if r.exports:
            lines += [
                "| export | answers | time | peak RSS | file size | exit |",
                "|---|---|---|---|---|---|",
            ]
            for key, run in r.exports.items():
                fmt, size = key.split("@")
                lines.append(
                    f"| {fmt} | {int(size):,} | {fmt_s(run.seconds)} | {run.peak_rss_mb:.0f} MB "
                    f"| {run.output_bytes / 1e6:.1f} MB | {run.returncode} |"
                )
            for fmt in ("csv", "xlsx"):
                big = r.exports.get(f"{fmt}@{r.answers}")
                small = r.exports.get(f"{fmt}@{args.small}")
                if big and small and small.peak_rss_mb:
                    lines.append(
                        f"\n{fmt}: peak RSS at {r.answers:,} / at {args.small:,} answers = "
                        f"{big.peak_rss_mb / small.peak_rss_mb:.2f} "
                        f"(size ratio {r.answers / args.small:.0f}x)"
                    )
            lines.append("")
        for note in r.notes:
            lines.append(f"- note: {note}")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--answers", type=int, default=1_000_000, help="answers to seed")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--small",
        type=int,
        default=None,
        help="smaller size for the export memory comparison (default answers/10; 0 to skip)",
    )
    parser.add_argument(
        "--pg-db",
        default=PG_BENCH_DB,
        help="PostgreSQL scratch database (dropped and re-created!); give concurrent runs "
        "different names",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measure")
    parser.add_argument("--formats", default="csv,xlsx", help="export formats to measure")
    parser.add_argument(
        "--force-exports", action="store_true", help="measure exports even when the report fails"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown summary path")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.answers <= 0:
        parser.error("--answers must be positive")
    if args.small is None:
        args.small = max(args.answers // 10, 1000)
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark for the chosen databases and write the Markdown summary."""
    args = parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    tmp = Path(tempfile.mkdtemp(prefix="hailong_bench_"))
    results = []
    try:
        for kind in kinds:
            results.append(bench_db(kind, args, tmp))
            # Write after each database so a long run leaves partial numbers behind.
            text = render(results, args)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(render(results, args))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
