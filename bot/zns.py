"""The dossier rating invitation sent by Zalo's Notification Service (ZNS).

A `zalo.me/<OA id>` link carries nothing into the chat (shared/domain/channels.md: no
parameter of the link reaches the webhook), so on Zalo a dossier is rated through the web
link, and the citizen learns of it by a ZNS template message sent to the phone number given
at the counter, when they agreed to it. The message goes through the outbox (retried, sent
once); its row alone holds the phone number, which is deleted once the invitation is sent or
refused for good, and at the latest when the dossier's link expires (bot/channels/zalo.py).

The template itself is the city's, registered with Zalo: docs/zalo_zns.md lists its fields.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from base.settings import Settings
from bot.links import DossierLinks
from storage.dossiers import DossierRef

RECIPIENT_PREFIX = "zns:"  # outbox recipient of an invitation: "zns:<dossier id>"
VALUE_MAX = 100  # characters of one template parameter (see docs/zalo_zns.md)
# Vietnamese mobile numbers: 0 or 84 or +84, then 3/5/7/8/9 and 8 more digits.
_MOBILE = re.compile(r"^(?:\+?84|0)([35789]\d{8})$")


def enabled(settings: Settings) -> bool:
    """Whether rating invitations go out by ZNS (Zalo on and a template registered)."""
    return bool(settings.zalo_app_id and settings.zalo_zns_template_id)


def normalise_phone(text: str) -> str | None:
    """A Vietnamese mobile number in ZNS's international form ("84901234567"), or None.
    Spaces, dots, dashes and brackets between digits are allowed."""
    m = _MOBILE.match(re.sub(r"[\s.\-()]", "", text))
    return f"84{m.group(1)}" if m else None


def mask_phone(phone: str) -> str:
    """What logs show of a phone number: its last three digits."""
    return "*" * max(0, len(phone) - 3) + phone[-3:]


def recipient(dossier_id: int) -> str:
    """The outbox recipient of a dossier's invitation: one per dossier."""
    return f"{RECIPIENT_PREFIX}{dossier_id}"


def tracking_id(dossier_id: int) -> str:
    """ZNS's `tracking_id`: the same for every attempt of one dossier's invitation, so the
    delivery reports (and Zalo's records) tie each message to one dossier."""
    return f"hailong-dossier-{dossier_id}"


def _short(text: str) -> str:
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 1].rstrip() + "…"


def template_data(
    dossier: DossierRef, unit_name: str, procedure_name: str, links: DossierLinks
) -> dict[str, str]:
    """The template's parameters (names documented in docs/zalo_zns.md)."""
    return {
        "dossier_code": _short(dossier.code),
        "procedure_name": _short(procedure_name or dossier.procedure_code),
        "unit_name": _short(unit_name or dossier.unit_code),
        "expiry_date": f"{links.expires_at:%d/%m/%Y}",
        "rating_token": links.token,
        "rating_link": links.web,
    }


def invitation(
    phone: str, dossier: DossierRef, unit_name: str, procedure_name: str, links: DossierLinks
) -> dict[str, Any]:
    """The outbox payload of one invitation. The template id is read when it is sent, so a
    corrected setting applies to invitations still waiting."""
    return {
        "kind": "zns_invitation",
        "dossier": dossier.code,
        "phone": phone,
        "tracking_id": tracking_id(dossier.id),
        "template_data": template_data(dossier, unit_name, procedure_name, links),
        "expires_at": links.expires_at.isoformat(),
    }


def expires_at(payload: dict[str, Any]) -> datetime | None:
    """When the invitation's link expires (None if the payload does not say)."""
    try:
        return datetime.fromisoformat(str(payload["expires_at"]))
    except (KeyError, ValueError):
        return None
