"""The array literals of the PostgreSQL batch statements (`storage.pg_turns._array`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.db import make_engine
from storage.pg_turns import _array, _docs
from tests.conftest import PG_ADMIN_URL, POSTGRES_SKIP

# Text as citizens type it and JSON as states are stored, with the characters that matter to
# an array literal.
_TEXT = st.text(
    alphabet=st.sampled_from(list("ab ,{}\"\\NULàđ'\n\t")) | st.characters(codec="utf-8"),
    max_size=20,
).map(lambda s: s.replace("\x00", ""))
_VALUES = st.lists(st.none() | _TEXT, max_size=8)


def test_literals_quote_every_element_and_spell_null() -> None:
    assert _array([]) == "{}"
    assert _array([None]) == "{NULL}"
    assert _array(["NULL", None, 'x"y', "a\\b", "{,}"]) == '{"NULL",NULL,"x\\"y","a\\\\b","{,}"}'


def test_json_documents_travel_joined_by_a_control_character_json_never_holds_raw() -> None:
    docs = ['{"text":"Chờ \\"lâu\\" \\u001e"}', "[]"]
    assert _docs(docs).split("\x1e") == docs
    with pytest.raises(ValueError, match="U\\+001E"):
        _docs(['"raw \x1e"'])


@pytest.mark.postgres
@given(st.lists(st.none() | _TEXT, max_size=4), st.lists(_TEXT, max_size=4))
@settings(max_examples=100, deadline=None)
def test_postgresql_splits_the_documents_back(
    pg: psycopg.Connection, texts: list[str | None], keys: list[str]
) -> None:
    docs = [json.dumps({"text": t, "keys": keys}, ensure_ascii=False) for t in texts]
    got = pg.execute("SELECT string_to_array(%s::text, chr(30))::json[]", [_docs(docs)]).fetchone()
    assert got is not None and got[0] == [json.loads(d) for d in docs]


@pytest.fixture(scope="module")
def pg() -> Iterator[psycopg.Connection]:
    if POSTGRES_SKIP:
        pytest.skip(POSTGRES_SKIP)
    url = make_engine(PG_ADMIN_URL).url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        yield conn


@pytest.mark.postgres
@given(values=_VALUES)
@settings(max_examples=200, deadline=None)
def test_postgresql_reads_back_the_values(pg: psycopg.Connection, values: list[str | None]) -> None:
    got = pg.execute("SELECT %s::text[]", [_array(values)]).fetchone()
    assert got is not None and got[0] == values
