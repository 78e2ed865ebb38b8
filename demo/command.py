"""`hailong demo`: a database full of realistic, simulated survey data to try reports on.

Creates or migrates the schema, upserts the unit and procedure catalogue (idempotent), stores
the questionnaire versions, then appends N simulated completed surveys and M simulated
complaints (`demo.complaints`: played through the complaint lifecycle, with their
history) spread over the last 12 months. No personal data: every simulated response has
`citizen_id = NULL`; open complaints carry placeholder contacts (0900000xxx).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from base.errors import UserError

DEFAULT_RESPONSES = 3000
DEFAULT_COMPLAINTS = 600


class DemoResult(NamedTuple):
    dossiers: int
    responses: int
    answers: int
    complaints: int  # with a tracking code
    feedback: int  # anonymous feedback
    example_code: str | None  # an open complaint in the terminal chat `demo`


def run_demo(
    database_url: str,
    *,
    responses: int = DEFAULT_RESPONSES,
    complaints: int = DEFAULT_COMPLAINTS,
    seed: int = 1,
    catalogue_path: Path | None = None,
    progress: bool = True,
) -> DemoResult:
    """Migrate, upsert the catalogue, seed `responses` surveys and `complaints` complaints;
    return what was written."""
    from base.settings import get_settings
    from demo.complaints import seed_complaints
    from demo.surveys import seed_surveys
    from storage.catalogue import load_catalogue
    from storage.db import make_engine
    from storage.migrate import upgrade
    from survey.loader import load_questionnaires

    if responses < 0:
        raise UserError(f"--responses must be 0 or more, got {responses}")
    if complaints < 0:
        raise UserError(f"--complaints must be 0 or more, got {complaints}")
    settings = get_settings()
    questionnaires = load_questionnaires([settings.questionnaire_dir])
    wanted = (settings.dossier_questionnaire, settings.general_questionnaire)
    missing = [code for code in wanted if code not in questionnaires]
    if missing:
        raise UserError(f"questionnaire {missing[0]!r} not found (see QUESTIONNAIRE_DIR)")
    catalogue = load_catalogue(catalogue_path)
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        result = seed_surveys(
            engine,
            responses=responses,
            seed=seed,
            catalogue=catalogue,
            dossier_questionnaire=questionnaires[wanted[0]],
            general_questionnaire=questionnaires[wanted[1]],
            progress=progress,
        )
        made = seed_complaints(engine, complaints=complaints, seed=seed, catalogue=catalogue)
    finally:
        engine.dispose()
    return DemoResult(
        result.dossiers,
        result.responses,
        result.answers,
        made.complaints,
        made.feedback,
        made.example_code,
    )


def demo_command(
    responses: Annotated[
        int,
        typer.Option("--responses", "-n", min=0, help="Number of simulated survey responses."),
    ] = DEFAULT_RESPONSES,
    complaints: Annotated[
        int,
        typer.Option("--complaints", min=0, help="Number of simulated complaints (phản ánh)."),
    ] = DEFAULT_COMPLAINTS,
    seed: Annotated[
        int,
        typer.Option(help="Random seed: same seed, same answers (dates are relative to today)."),
    ] = 1,
    catalogue: Annotated[
        Path | None,
        typer.Option(help="Unit and procedure catalogue YAML (default: the shipped one)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fill the database (DATABASE_URL) with simulated surveys and complaints for trying
    reports and the staff's tools.

    Running it again adds responses and complaints (with the next tracking numbers); units
    and procedures are upserted, never duplicated.
    """
    from rich.console import Console

    from base.settings import get_settings

    url = get_settings().database_url
    made = run_demo(
        url,
        responses=responses,
        complaints=complaints,
        seed=seed,
        catalogue_path=catalogue,
        progress=not quiet,
    )
    console = Console(stderr=True)
    console.print(
        f"demo: {made.dossiers} dossiers, {made.responses} survey responses, {made.answers} "
        f"answers, {made.complaints} complaints and {made.feedback} anonymous feedback added "
        f"(seed {seed}) to {_safe_url(url)}",
        soft_wrap=True,
        markup=False,
    )
    if made.example_code:
        console.print(
            f"demo: follow complaint {made.example_code} from the terminal chat `demo`: "
            f"printf '1\\n/tracuu {made.example_code}\\n' | hailong chat --user demo "
            f"(report: hailong report complaints --by unit)",
            soft_wrap=True,
            markup=False,
        )


def _safe_url(url: str) -> str:
    # Never echo a password from DATABASE_URL to the terminal.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
