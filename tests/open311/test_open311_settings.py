"""OPEN311_API_KEYS is read and checked as API_KEYS is: a JSON list of keys, a wrong value
named in one line without echoing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from base.errors import InvalidSetting
from base.settings import get_settings


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("secret-key-1", "not valid JSON"),
        ('["a key"]', "spaces"),
        ('[""]', "empty"),
        ('{"k": 1}', "JSON list of strings"),
    ],
)
def test_a_wrong_open311_key_list_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("OPEN311_API_KEYS", value)
    with pytest.raises(InvalidSetting) as caught:
        get_settings()
    message = str(caught.value)
    assert message.startswith("OPEN311_API_KEYS: ") and reason in message, message
    assert "secret-key-1" not in message


def test_open311_keys_are_their_own_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", '["dossier-key"]')
    monkeypatch.setenv("OPEN311_API_KEYS", '["city-key-1", "city-key-2"]')
    settings = get_settings()
    assert settings.open311_api_keys == ["city-key-1", "city-key-2"]
    assert settings.api_keys == ["dossier-key"]
    monkeypatch.setenv("OPEN311_API_KEYS", "")
    get_settings.cache_clear()
    assert get_settings().open311_api_keys == []
