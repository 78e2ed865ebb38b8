"""A stored version's wording is fixed (issue 13: 2): a file that rewords a statement under the
same version is refused at start, with one line saying to give it a new version."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from storage.catalogue import ensure_questionnaire
from storage.db import make_engine
from survey.loader import SHIPPED_DIR, load_questionnaire
from tests.test_cli import hailong, migrated, one_line_error


def test_rewording_a_stored_version_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    migrated(sqlite_url)
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        ensure_questionnaire(session, load_questionnaire(SHIPPED_DIR / "sipas.yaml"))
        session.commit()
    engine.dispose()
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    text = (SHIPPED_DIR / "sipas.yaml").read_text(encoding="utf-8")
    reworded = text.replace("Nơi tiếp nhận hồ sơ sạch sẽ, ngăn nắp.", "Nơi tiếp nhận sạch sẽ.")
    assert reworded != text
    (folder / "sipas.yaml").write_text(reworded, encoding="utf-8")
    env = {"QUESTIONNAIRE_DIR": str(folder)}
    result = hailong("chat", "--user", "an", db=sqlite_url, stdin="", env=env)
    one_line_error(result, "sipas", "rewords TCDV3", "new version")
    served = hailong("serve", "--port", "1", db=sqlite_url, env=env)  # refused before binding
    one_line_error(served, "sipas", "rewords TCDV3")
    # With a new version declaring what stays comparable, the same text is accepted.
    bumped = reworded.replace(
        '\nversion: "2025.1"',
        '\nversion: "2026.1"\nprevious: {version: "2025.1", comparable: [TCDV1, TCDV2]}',
    )
    (folder / "sipas.yaml").write_text(bumped, encoding="utf-8")
    ok = hailong("chat", "--user", "an", db=sqlite_url, stdin="dừng\n", env=env)
    assert ok.returncode == 0, ok.stderr
