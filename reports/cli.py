"""Placeholder: the reports helper replaces this module."""

import typer


def report() -> None:
    """Satisfaction report (being built)."""
    raise typer.Exit(1)


def export() -> None:
    """Anonymised answers export (being built)."""
    raise typer.Exit(1)
