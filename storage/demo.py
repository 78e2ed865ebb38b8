"""`hailong demo`: a database full of realistic, simulated survey data to try reports on.

Creates or migrates the schema, upserts the unit and procedure catalogue (idempotent), stores
the questionnaire versions, then appends N simulated completed surveys spread over the last
12 months. No personal data: every simulated response has `citizen_id = NULL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hailong.errors import UserError

DEFAULT_RESPONSES = 3000


def run_demo(
    database_url: str,
    *,
    responses: int = DEFAULT_RESPONSES,
    seed: int = 1,
    catalogue_path: Path | None = None,
    progress: bool = True,
) -> tuple[int, int, int]:
    """Migrate, upsert the catalogue and seed `responses` surveys; return (dossiers,
    responses, answers) written."""
    from hailong.config import get_settings
    from storage.bulk import seed_surveys
    from storage.catalogue import load_catalogue
    from storage.db import make_engine
    from storage.migrate import upgrade
    from survey.loader import load_questionnaires

    if responses < 0:
        raise UserError(f"--responses must be 0 or more, got {responses}")
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
    finally:
        engine.dispose()
    return result.dossiers, result.responses, result.answers


def demo_command(
    responses: Annotated[
        int,
        typer.Option("--responses", "-n", min=0, help="Number of simulated survey responses."),
    ] = DEFAULT_RESPONSES,
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
    """Fill the database (DATABASE_URL) with simulated surveys for trying reports.

    Running it again adds responses; units and procedures are upserted, never duplicated.
    """
    from rich.console import Console

    from hailong.config import get_settings

    url = get_settings().database_url
    dossiers, made, answers = run_demo(
        url, responses=responses, seed=seed, catalogue_path=catalogue, progress=not quiet
    )
    Console(stderr=True).print(
        f"demo: {dossiers} dossiers, {made} survey responses, {answers} answers added "
        f"(seed {seed}) to {_safe_url(url)}",
        soft_wrap=True,
    )


def _safe_url(url: str) -> str:
    # Never echo a password from DATABASE_URL to the terminal.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
