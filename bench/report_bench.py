"""Report and export benchmark on a scratch database of simulated surveys.

    python bench/report_bench.py --answers 1000000 [--db sqlite|postgres|both]

For each database it seeds a fresh scratch database (a SQLite file in a temp dir, or the
PostgreSQL database `hailong_bench`, dropped and re-created), then measures in the same run:

a. `hailong report --format json --by unit,month` as a child process (wall time);
b. the floor: hand-written SQL computing the same figures under the report's rules (one
   questionnaire by version, the dossier questionnaire's rating question, local months):
   criterion counts, respondents, the Decision 766 counts, the three-level distribution,
   responses and units; floor and report alternate round by round, the ratio per round;
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
from reports.queries import fixed_offset_minutes  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "HAILONG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)
PG_BENCH_DB = "hailong_bench"
RESULTS = ROOT / "bench" / "results" / "report_bench.md"
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class FloorRules:
    """What the report counts, read from the same settings and questionnaire files as the CLI:
    statements of one questionnaire, the rating question of the dossier questionnaire, months
    in the report's time zone."""

    questionnaire: str = "sipas"
    dossier_questionnaire: str = "danh-gia-ho-so"
    rating_question: str = "DG"
    timezone: str = "Asia/Ho_Chi_Minh"
    elements: tuple[str, ...] = ("TCDV", "TTHC", "CC", "KQ", "PAKN")

    @classmethod
    def from_settings(cls) -> FloorRules:
        """GENERAL_QUESTIONNAIRE, DOSSIER_QUESTIONNAIRE and REPORT_TIMEZONE as the CLI reads
        them (environment, .env); elements and rating question from the questionnaire files."""
        from base.settings import Settings
        from survey.loader import load_questionnaires

        settings = Settings()
        files = load_questionnaires([settings.questionnaire_dir])
        general = files[settings.general_questionnaire]
        dossier = files[settings.dossier_questionnaire]
        if dossier.rating_question is None:
            raise SystemExit(f"{dossier.code} names no rating_question")
        return cls(
            questionnaire=general.code,
            dossier_questionnaire=dossier.code,
            rating_question=dossier.rating_question,
            timezone=settings.report_timezone,
            elements=tuple(e.code for e in general.elements),
        )


def _lit(value: str) -> str:
    """A SQL string literal (the values come from settings, not from users)."""
    return "'" + value.replace("'", "''") + "'"


def _month(column: str, dialect: str, tz: str) -> str:
    """The local-time month of a UTC timestamp, as a hand-written query would say it."""
    if dialect == "sqlite":
        offset = fixed_offset_minutes(tz)
        if offset is None:  # the report registers a Python function for such zones
            raise SystemExit(f"the floor supports fixed-offset zones only, not {tz}")
        return f"strftime('%Y-%m', {column}, '{offset:+d} minutes')"
    return f"to_char(timezone({_lit(tz)}, {column}), 'YYYY-MM')"


def floor_queries(dialect: str, rules: FloorRules = FloorRules()) -> dict[str, str]:
    """The hand-written SQL that produces every figure of the unit x month report."""
    tz = rules.timezone
    sat = "a.satisfied" if dialect == "sqlite" else "a.satisfied::int"
    statements = f"""r.questionnaire_code = {_lit(rules.questionnaire)} AND a.kind = 'likert5'
              AND a.status = 'answered' AND a.element_code IS NOT NULL"""
    flags = ",\n".join(
        f"                   MAX(CASE WHEN a.element_code = {_lit(code)} THEN 1 ELSE 0 END) AS e{i}"
        for i, code in enumerate(rules.elements)
    )
    flag_sums = "".join(f", SUM(e{i})" for i in range(len(rules.elements)))
    return {
        # Criterion rate per statement of each questionnaire version: SUM(satisfied) /
        # COUNT(valid), valid = answered likert5 with an element.
        "criteria": f"""
            SELECT r.unit_id, {_month("r.started_at", dialect, tz)} AS month,
                   r.questionnaire_id, a.question_code, a.element_code,
                   COUNT(*) AS n, SUM({sat}) AS satisfied
            FROM answer a JOIN survey_response r ON r.id = a.response_id
            WHERE {statements}
            GROUP BY r.unit_id, month, r.questionnaire_id, a.question_code, a.element_code""",
        # Decision 766: dossiers by local completion month; rated "không hài lòng" on the
        # rating question, finished late, or with a complaint about them; each dossier once.
        "ratio_766": f"""
            SELECT unit_id, month, COUNT(*) AS dossiers, SUM(rated) AS rated, SUM(late) AS late,
                   SUM(CASE WHEN rated = 1 OR late = 1 OR complained = 1 THEN 1 ELSE 0 END)
            FROM (
              SELECT d.unit_id, {_month("d.completed_at", dialect, tz)} AS month,
                     CASE WHEN EXISTS (
                       SELECT 1 FROM survey_response r JOIN answer a ON a.response_id = r.id
                       WHERE r.dossier_id = d.id
                         AND r.questionnaire_code = {_lit(rules.dossier_questionnaire)}
                         AND a.question_code = {_lit(rules.rating_question)}
                         AND a.status = 'answered' AND a.choice = 'khong_hai_long'
                     ) THEN 1 ELSE 0 END AS rated,
                     CASE WHEN d.completed_at > d.due_at THEN 1 ELSE 0 END AS late,
                     CASE WHEN EXISTS (
                       SELECT 1 FROM complaint c WHERE c.dossier_id = d.id
                         AND c.code IS NOT NULL AND c.status <> 'rejected'
                     ) THEN 1 ELSE 0 END AS complained
              FROM dossier d WHERE d.completed_at IS NOT NULL
            ) x
            GROUP BY unit_id, month""",
        # Respondents per group (the n of the indices): responses with a valid statement
        # answer, in all, finished, and in each element.
        "respondents": f"""
            SELECT unit_id, month, COUNT(*), SUM(complete){flag_sums}
            FROM (
              SELECT r.unit_id, {_month("r.started_at", dialect, tz)} AS month,
                   MAX(CASE WHEN r.status = 'completed' THEN 1 ELSE 0 END) AS complete,
{flags}
              FROM answer a JOIN survey_response r ON r.id = a.response_id
              WHERE {statements}
              GROUP BY r.id
            ) x
            GROUP BY unit_id, month""",
        # Three-level distribution: answers to the dossier questionnaire's rating question.
        "rating3": f"""
            SELECT r.unit_id, {_month("r.started_at", dialect, tz)} AS month, a.choice, COUNT(*)
            FROM answer a JOIN survey_response r ON r.id = a.response_id
            WHERE r.questionnaire_code = {_lit(rules.dossier_questionnaire)}
              AND a.question_code = {_lit(rules.rating_question)} AND a.kind = 'rating3'
              AND a.status = 'answered'
              AND a.choice IN ('rat_hai_long', 'hai_long', 'khong_hai_long')
            GROUP BY r.unit_id, month, a.choice""",
        # Responses of the questionnaire (those without a valid answer are reported too) and
        # their span (the months listed even without data).
        "responses": f"""
            SELECT COUNT(*), MIN(started_at), MAX(started_at) FROM survey_response
            WHERE questionnaire_code = {_lit(rules.questionnaire)}""",
        # Units listed even without answers: those with a dossier or a response.
        "units": """
            SELECT unit_id FROM dossier UNION SELECT unit_id FROM survey_response""",
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
    ratios: list[float] = field(default_factory=list)  # report / floor, round by round
    loads: list[float] = field(default_factory=list)  # 1-minute load average after each round
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
        # (b) the floor and (a) the real report, each warmed up once (caches equal), then
        # timed in alternation, floor then report, round by round: the machine is shared and
        # its load drifts within minutes, so each round's ratio compares two neighbours.
        queries = floor_queries(engine.dialect.name, args.rules)

        floor_rows: dict[str, list[Any]] = {}

        def run_floor() -> float:
            started_all = time.perf_counter()
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # The session settings the report gives its own aggregations
                    # (reports.build._tune_session): same memory, same planner.
                    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
                    conn.exec_driver_sql("SET LOCAL jit = off")
                for name, sql in queries.items():
                    started = time.perf_counter()
                    floor_rows[name] = list(conn.exec_driver_sql(sql).fetchall())
                    res.floor_parts[name] = time.perf_counter() - started
            return time.perf_counter() - started_all

        run_floor()
        # Python start-up and imports of the CLI: part of what a user waits for, not of SQL.
        res.startup = Timing(
            runs=[
                run_child([*hailong_cmd(), "--help"], env, None).seconds for _ in range(args.repeat)
            ]
        )
        report_args = [*hailong_cmd(), "report", "--format", "json", "--by", "unit,month"]
        out = tmp / f"report_{kind}.json"
        first = run_child(report_args, env, out)
        if first.returncode != 0:
            res.report.error = f"exit {first.returncode}: {first.stderr.strip()[-400:]}"
        else:
            with engine.connect() as conn:
                unit_codes: dict[int, str] = dict(
                    conn.exec_driver_sql("SELECT id, code FROM unit").fetchall()
                )
            res.notes.append(cross_check(out, floor_rows, unit_codes, args.rules))
            for _ in range(args.repeat):
                floor_seconds = run_floor()
                run = run_child(report_args, env, out)
                if run.returncode != 0:  # a failed run is not a fast run
                    res.report.error = f"exit {run.returncode}: {run.stderr.strip()[-400:]}"
                    res.report.runs.clear()
                    break
                res.floor.runs.append(floor_seconds)
                res.report.runs.append(run.seconds)
                res.ratios.append(run.seconds / floor_seconds)
                res.loads.append(os.getloadavg()[0])
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


Group = tuple[str | None, str]  # (unit code, local month)


def _add(into: dict[Group, dict[str, int]], key: Group, measure: str, value: Any) -> None:
    if value:
        group = into.setdefault(key, {})
        group[measure] = group.get(measure, 0) + int(value)


def cross_check(
    report_json: Path,
    floor_rows: dict[str, list[Any]],
    unit_codes: dict[int, str],
    rules: FloorRules,
) -> str:
    """Compare the report with the floor group by group (unit x local month): every count
    (criterion n and satisfied, respondents in all, finished and per element, the 766 counts,
    the three levels), the response counts and the units listed. Equal per month, so the
    local-time month boundaries agree too, not only the totals."""
    try:
        data = json.loads(report_json.read_text(encoding="utf-8"))
        rows = next(b["rows"] for b in data["breakdowns"] if b["by"] == ["unit", "month"])
        got: dict[Group, dict[str, int]] = {}
        rates: dict[tuple[str | None, str, str], float] = {}
        for r in rows:
            key = (r["unit"]["code"], r["month"])
            _add(got, key, "respondents", r["respondents"])
            for code, fig in r["criteria"].items():
                _add(got, key, "criteria n", fig["n"])
                if fig["value"] is not None:
                    rates[(*key, code)] = fig["value"]
            for code, fig in r["elements"].items():
                _add(got, key, f"{code} n", fig["n"])
        for r in data["ratio_766"]:
            key = (r["unit"]["code"], r["month"])
            for measure in ("dossiers", "rated_khong_hai_long", "late", "excluded"):
                _add(got, key, f"766 {measure}", r[measure])
        for r in data["rating3"]:
            key = (r["unit"]["code"], r["month"])
            for level, entry in r["levels"].items():
                _add(got, key, f"rating3 {level}", entry["count"])
        responses = data["responses"]
        got_units = {str(u["unit"]["code"]) for u in data["units"] if u["unit"]["code"]}
    except (KeyError, StopIteration, TypeError, ValueError) as exc:
        return f"cross-check skipped: report JSON not in the expected shape ({exc!r})"

    def code_of(unit_id: int | None) -> str | None:
        return unit_codes.get(unit_id) if unit_id is not None else None

    want: dict[Group, dict[str, int]] = {}
    satisfied: dict[tuple[str | None, str, str], list[int]] = {}
    for unit_id, month, _version, question, _element, n, sat in floor_rows["criteria"]:
        _add(want, (code_of(unit_id), month), "criteria n", n)
        counts = satisfied.setdefault((code_of(unit_id), month, question), [0, 0])
        counts[0] += int(sat or 0)
        counts[1] += int(n)
    for unit_id, month, respondents, complete, *in_element in floor_rows["respondents"]:
        key = (code_of(unit_id), month)
        _add(want, key, "respondents", respondents)
        _add(want, key, "complete", complete)
        for element, n in zip(rules.elements, in_element, strict=True):
            _add(want, key, f"{element} n", n)
    for unit_id, month, dossiers, rated, late, excluded in floor_rows["ratio_766"]:
        key = (code_of(unit_id), month)
        _add(want, key, "766 dossiers", dossiers)
        _add(want, key, "766 rated_khong_hai_long", rated)
        _add(want, key, "766 late", late)
        _add(want, key, "766 excluded", excluded)
    for unit_id, month, level, n in floor_rows["rating3"]:
        _add(want, (code_of(unit_id), month), f"rating3 {level}", n)
    complete = sum(g.pop("complete", 0) for g in want.values())
    want = {k: v for k, v in want.items() if v}
    total_responses = int(floor_rows["responses"][0][0])
    want_units = {str(code_of(row[0])) for row in floor_rows["units"] if row[0] is not None}

    diffs = [
        f"{key}: report {got.get(key)} vs floor {want.get(key)}"
        for key in sorted(set(got) | set(want), key=str)
        if got.get(key) != want.get(key)
    ]
    diffs += [
        f"rate {key}: report {rates.get(key)} vs floor {s}/{n}"
        for key, (s, n) in sorted(satisfied.items(), key=str)
        if n and abs(rates.get(key, -1.0) - s / n) > 0.00005 + 1e-9
    ]
    if responses["complete"] != complete:
        diffs.append(f"complete responses: report {responses['complete']} vs floor {complete}")
    if sum(responses.values()) != total_responses:
        diffs.append(f"responses: report {responses} vs floor {total_responses}")
    if got_units != want_units:
        diffs.append(f"units: report {sorted(got_units)} vs floor {sorted(want_units)}")
    if diffs:
        return f"cross-check MISMATCH ({len(diffs)}): " + "; ".join(diffs[:8])
    totals: dict[str, int] = {}
    for group in want.values():
        for measure, value in group.items():
            if measure in ("criteria n", "respondents", "766 dossiers") or measure.startswith(
                "rating3"
            ):
                name = "rating3 n" if measure.startswith("rating3") else measure
                totals[name] = totals.get(name, 0) + value
    months = sorted({m for _, m in want})
    return (
        f"cross-check OK: report equals the floor in each of {len(want):,} unit x month groups "
        f"({months[0] if months else '-'} .. {months[-1] if months else '-'}, local months "
        f"in {rules.timezone}), every criterion rate, {len(want_units)} units listed, "
        f"{total_responses:,} responses; totals "
        + ", ".join(f"{k} {v:,}" for k, v in totals.items())
    )


def code_version() -> str:
    """The commit measured: the snapshot's, else HEAD with a note of local changes."""
    commit = os.environ.get("HAILONG_BENCH_COMMIT")
    if commit:
        return f"{commit[:10]} (git archive snapshot)"
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    name = head.stdout.strip()[:10] or "unknown"
    return f"{name} (working tree{', with local changes' if dirty else ''})"


def run_from_snapshot(rev: str) -> int:
    """Export `rev` with git archive, copy this script in, and run it from there: the working
    tree is shared with people editing it, and a file changed mid-run can break a long run.
    The children (`hailong report`) import the snapshot's code through PYTHONPATH."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = Path(tempfile.mkdtemp(prefix="hailong-snapshot-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        shutil.copy2(Path(__file__), dest / "bench" / "report_bench.py")
        argv: list[str] = []
        words, i = sys.argv[1:], 0
        while i < len(words):
            word = words[i]
            i += 1
            if word == "--snapshot" and i < len(words) and words[i] == rev:
                i += 1
            elif word == "--out" and i < len(words):
                argv += ["--out", str(Path(words[i]).resolve())]
                i += 1
            elif word != "--snapshot" and not word.startswith("--snapshot="):
                argv.append(word)
        if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
            argv += ["--out", str(RESULTS)]
        env = {
            **os.environ,
            "PYTHONPATH": str(dest),
            "HAILONG_BENCH_COMMIT": commit,
            "HAILONG_BENCH_COMMAND": " ".join(["python", "bench/report_bench.py", *sys.argv[1:]]),
        }
        print(f"running the code of {commit[:10]} from {dest}", flush=True)
        script = dest / "bench" / "report_bench.py"
        return subprocess.run([sys.executable, str(script), *argv], env=env, cwd=dest).returncode
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def render(results: list[DbResult], args: argparse.Namespace) -> str:
    """The Markdown summary: one table per database, ratios against the floor."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rules: FloorRules = args.rules
    command = os.environ.get("HAILONG_BENCH_COMMAND") or " ".join(
        ["python", "bench/report_bench.py", *sys.argv[1:]]
    )
    lines = [
        "# Report benchmark",
        "",
        f"Run {now} on {platform.node()} ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}), `{command}`, code of {code_version()}; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine makes "
        "absolute times noisy; floor and report run in alternation and the ratio is taken "
        "round by round, so it is steadier).",
        "Report: `hailong report --format json --by unit,month` to standard output; floor and "
        f"report each warmed up once, then {args.repeat} rounds of floor then report (times: "
        "medians). Floor: the hand-written SQL of the same figures "
        f"under the report's rules (statements of questionnaire `{rules.questionnaire}` only, "
        "by questionnaire version; the three-level rating only from question "
        f"`{rules.rating_question}` of `{rules.dossier_questionnaire}`; months local to "
        f"{rules.timezone}): criterion counts by unit x month x version x statement, "
        "respondents in all, finished and per element, the Decision 766 counts (rated "
        "không hài lòng, late, complaint; each dossier once), the three-level distribution, "
        "the questionnaire's responses and span, the units listed; run in-process (on "
        "PostgreSQL with the report's session settings: work_mem 64MB, jit off). "
        "Start-up: `hailong --help`, the interpreter and import cost every CLI call pays. "
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
        elif r.report.median is not None and r.ratios:
            ratio = statistics.median(r.ratios)
            net = statistics.median(
                (rep - (r.startup.median or 0)) / flo
                for rep, flo in zip(r.report.runs, r.floor.runs, strict=True)
            )
            verdict = "meets" if ratio <= TARGET_RATIO else "misses"
            lines.append(
                f"| `hailong report` | {fmt_s(r.report.median)} | **{ratio:.2f}x** "
                f"({verdict} {TARGET_RATIO}x); {net:.2f}x without start-up |"
            )
            lines += [
                "",
                "Rounds (floor, then report; the ratio above is the median of these): "
                + "; ".join(
                    f"{flo:.1f} s / {rep:.1f} s = {rat:.2f}x (load {load:.1f})"
                    for flo, rep, rat, load in zip(
                        r.floor.runs, r.report.runs, r.ratios, r.loads, strict=True
                    )
                )
                + ".",
            ]
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
    parser.add_argument(
        "--snapshot",
        nargs="?",
        const="HEAD",
        metavar="REV",
        help="run the code of a commit (default HEAD), exported with git archive to a temp dir, "
        "not the working tree others may be editing (this script is copied in as it is)",
    )
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
    if args.snapshot:
        return run_from_snapshot(args.snapshot)
    args.rules = FloorRules.from_settings()
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
