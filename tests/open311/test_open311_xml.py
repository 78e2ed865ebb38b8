"""Open311 GeoReport v2 as XML: every endpoint's `.xml` twin answers the same data as its
`.json` (one builder, two serialisers), with the spec's element names, as a well-formed
document whatever a citizen typed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from bot.open311 import xml_document, xml_text
from tests.open311.conftest import BASE, KEY, post
from tests.open311.test_open311 import (
    CREATED_FIELDS,
    LEAK,
    POTHOLE,
    REQUEST_FIELDS,
    SERVICE_FIELDS,
    filed,
)
from tests.web.conftest import SQLITE_ONLY, Live

ERROR_FIELDS = {"code", "description"}
# Citizen text at its worst: markup, entities, the end of a CDATA section, and characters
# XML 1.0 cannot hold at all (C0 controls, U+FFFE) next to ones it can (tab, newline, DEL).
NASTY = (
    "Ống nước bể <script>alert('x')</script> & &amp; ]]> <![CDATA[ x ]]> \"q\" 'a'\n"
    "điều khiển:\x01\x07\x08\x0b\x0c\x1b\x1f\ufffe tab\tdel\x7f cr\rend"
)


def parsed(response: httpx.Response) -> ET.Element:
    """The XML answer, checked for its media type and declaration, parsed (expat refuses
    anything not well-formed)."""
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(response.content)


def items(root: ET.Element, root_tag: str, item_tag: str, fields: set[str]) -> list[dict[str, Any]]:
    """The items of a list answer as {field: text}, checking every tag against the field list."""
    assert root.tag == root_tag
    out = []
    for item in root:
        assert item.tag == item_tag
        assert [child.tag for child in item] and {child.tag for child in item} == fields
        assert len(item) == len(fields)  # no field twice
        out.append({child.tag: child.text for child in item})
    return out


def same(json_items: list[dict[str, Any]], xml_items: list[dict[str, Any]]) -> None:
    """The XML says what the JSON says: null (or "") as an empty element, booleans
    true/false."""
    assert len(json_items) == len(xml_items)
    for j, x in zip(json_items, xml_items, strict=True):
        assert set(j) == set(x)
        assert {k: xml_text(v) or None for k, v in j.items()} == x


def twins(live: Live, path: str, **kw: Any) -> tuple[httpx.Response, httpx.Response]:
    as_json = live.http.get(f"{BASE}/{path}.json", **kw)
    as_xml = live.http.get(f"{BASE}/{path}.xml", **kw)
    assert as_json.status_code == as_xml.status_code
    return as_json, as_xml


def test_every_endpoint_answers_in_xml_as_in_json(api: Live) -> None:
    """The conformance test of the JSON (tests/open311/test_open311.py), on the XML: the same
    field lists, the same values."""
    as_json, as_xml = twins(api, "services")
    assert as_json.status_code == 200
    services = items(parsed(as_xml), "services", "service", SERVICE_FIELDS)
    same(as_json.json(), services)
    sxd = next(s for s in services if s["service_code"] == "SXD")
    assert sxd["metadata"] == "false" and sxd["type"] == "realtime"

    as_json, as_xml = twins(api, "services/SXD")
    definition = parsed(as_xml)
    assert definition.tag == "service_definition"
    assert [c.tag for c in definition] == ["service_code", "attributes"]
    assert definition.findtext("service_code") == "SXD" and len(definition[1]) == 0
    assert as_json.json() == {"service_code": "SXD", "attributes": []}

    # POST requests.xml: the body as for requests.json, the answer in XML.
    created = api.http.post(
        f"{BASE}/requests.xml",
        data={"api_key": KEY, "service_code": "CAPNUOC", "description": LEAK},
    )
    assert created.status_code == 201
    (made,) = items(parsed(created), "service_requests", "request", CREATED_FIELDS)
    code = made["service_request_id"]
    assert code and code.startswith("PA-") and made["account_id"] is None
    assert made["service_notice"] and code in made["service_notice"]
    again = api.http.post(
        f"{BASE}/requests.xml",
        data={"api_key": KEY, "service_code": "CAPNUOC", "description": LEAK},
    )
    assert again.status_code == 200 and again.content == created.content  # a retry

    other = filed(api, {"description": POTHOLE, "lat": "10.7721", "long": "106.6983"})
    as_json, as_xml = twins(api, "requests")
    listed = items(parsed(as_xml), "service_requests", "request", REQUEST_FIELDS)
    same(as_json.json(), listed)
    assert [r["service_request_id"] for r in listed] == [other, code]
    assert listed[0]["lat"] == "10.7721" and listed[0]["long"] == "106.6983"
    assert listed[1]["lat"] is None and listed[1]["zipcode"] is None  # null: empty element

    # The filters apply as to requests.json.
    as_json, as_xml = twins(api, "requests", params={"service_code": "CAPNUOC", "status": "open"})
    same(as_json.json(), items(parsed(as_xml), "service_requests", "request", REQUEST_FIELDS))
    assert len(as_json.json()) == 1

    as_json, as_xml = twins(api, f"requests/{code}")
    (one,) = items(parsed(as_xml), "service_requests", "request", REQUEST_FIELDS)
    same(as_json.json(), [one])
    assert one["description"] == LEAK and one["status"] == "open"


def errors(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    root = parsed(response)
    assert root.tag == "errors" and len(root) == 1
    (error,) = items(root, "errors", "error", ERROR_FIELDS)
    assert error["code"] == str(status)
    return str(error["description"])


def test_errors_of_xml_urls_are_xml(api: Live) -> None:
    assert errors(api.http.get(f"{BASE}/requests/PA-2026-999999.xml"), 404) == (
        "no service request 'PA-2026-999999'"
    )
    assert "no service 'NOPE'" in errors(api.http.get(f"{BASE}/services/NOPE.xml"), 404)
    assert api.http.get(f"{BASE}/services/NOPE.json").json()[0]["code"] == 404
    assert "status must be" in errors(
        api.http.get(f"{BASE}/requests.xml", params={"status": "x"}), 400
    )
    missing = api.http.post(f"{BASE}/requests.xml", data={"description": LEAK})
    assert errors(missing, 401) == "api_key missing"
    assert missing.headers["www-authenticate"] == "ApiKey"
    wrong = api.http.post(f"{BASE}/requests.xml", data={"description": LEAK, "api_key": "x"})
    assert errors(wrong, 403) == "api_key not accepted"
    bad = api.http.post(f"{BASE}/requests.xml", data={"api_key": KEY, "description": "  "})
    assert errors(bad, 400) == "description is required"
    # The same error, as JSON, from the .json URL: one builder, two forms.
    bad = api.http.post(f"{BASE}/requests.json", data={"api_key": KEY, "description": "  "})
    assert bad.json() == [{"code": 400, "description": "description is required"}]
    # Neither form is served under any other extension.
    assert api.http.get(f"{BASE}/services.yaml").status_code == 404


@SQLITE_ONLY
def test_citizen_text_is_escaped_and_forbidden_characters_replaced(api: Live) -> None:
    code = filed(api, {"service_code": "CAPNUOC", "description": NASTY})
    shown = api.http.get(f"{BASE}/requests/{code}.json").json()[0]["description"]
    assert "<script>" in shown and "\x01" in shown  # JSON carries them, escaped as JSON does
    response = api.http.get(f"{BASE}/requests/{code}.xml")
    raw = response.content.decode("utf-8")
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    assert "]]>" not in raw and "<![CDATA[" not in raw  # as text, not markup
    assert not any(c in raw for c in "\x01\x07\x08\x0b\x0c\x1b\x1f\ufffe\r")
    (one,) = items(parsed(response), "service_requests", "request", REQUEST_FIELDS)
    text = one["description"]
    assert text == xml_text(shown)
    assert "<script>alert('x')</script> & &amp; ]]> <![CDATA[ x ]]>" in text
    assert (
        "điều khiển:\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd tab\tdel\x7f cr\nend" in text
    )
    # The submitting answer echoes nothing of the text, in either form; the listing parses too.
    listed = items(
        parsed(api.http.get(f"{BASE}/requests.xml")), "service_requests", "request", REQUEST_FIELDS
    )
    assert listed[0]["description"] == text


@pytest.mark.parametrize(
    "value",
    [
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x1f",
        "\ud800 lone surrogates \udfff",
        "\ufffe\uffff",
        "]]>]]]]><![CDATA[",
        "<a href='x'>&nbsp;&#0;&#x1;</a>",
        "😀 \U0010fffd \ue000 \ufffd",
        "\r\n\r",
    ],
)
def test_any_string_makes_a_well_formed_document(value: str) -> None:
    """The serialiser alone, on what no request could even store (NUL, lone surrogates)."""
    document = xml_document(
        ("service_requests", "request"), [{"description": value, "lat": 1.5, "flag": True}]
    )
    root = ET.fromstring(document)
    item = root[0]
    assert item.findtext("lat") == "1.5" and item.findtext("flag") == "true"
    text = item.findtext("description") or ""
    assert text == xml_text(value)
    assert all(
        c in "\t\n" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
        for c in text
    )


def test_responses_in_both_forms_of_a_post(api: Live) -> None:
    """A JSON client and an XML client filing the same complaint see one code."""
    body = {"service_code": "SXD", "description": POTHOLE}
    first = post(api, body)
    second = api.http.post(f"{BASE}/requests.xml", data={**body, "api_key": KEY})
    assert first.status_code == 201 and second.status_code == 200
    (again,) = items(parsed(second), "service_requests", "request", CREATED_FIELDS)
    assert again["service_request_id"] == first.json()[0]["service_request_id"]
