"""Each role's header links lead to the pages that role may open, and nowhere else."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from console.labels import ADMIN, INBOX, NAV_DASHBOARD
from tests.console.conftest import add_login, signed_in


def links(html: str) -> list[str]:
    nav = html.split('<nav class="links">', 1)[1].split("</nav>", 1)[0]
    return [label for label in (INBOX, NAV_DASHBOARD, ADMIN) if f">{label}</a>" in nav]


@pytest.mark.parametrize(
    ("role", "page", "expected"),
    [
        ("staff", "/console", [INBOX]),
        ("lead", "/console", [INBOX, NAV_DASHBOARD]),
        ("admin", "/console/admin", [INBOX, NAV_DASHBOARD, ADMIN]),
    ],
)
def test_each_role_sees_the_links_it_may_follow(
    sqlite_db: Engine, role: str, page: str, expected: list[str]
) -> None:
    add_login(sqlite_db, f"{role}@example.org", role=role, unit=None if role == "admin" else "SXD")
    client = signed_in(sqlite_db, f"{role}@example.org")
    response = client.get(page)
    assert response.status_code == 200, response.text[:300]
    assert links(response.text) == expected
    for label, href in ((NAV_DASHBOARD, "/console/dashboard"), (ADMIN, "/console/admin")):
        if label in expected:
            assert client.get(href).status_code == 200
