"""Zendesk's brands: the account's one default brand, which every ticket's ``brand_id`` names
(zenpy reads ``ticket.brand``). Read-only; envelopes and errors are the Zendesk surface's."""
from __future__ import annotations

from typing import Any

from automations.clock import iso_z
from automations.domain.ticket import DEFAULT_TICKET_FORM_ID, Brand
from automations.surfaces import zendesk
from automations.surfaces.http import HttpRequest, json_response


def brand_json(b: Brand, base_url: str) -> dict[str, Any]:
    return {"url": f"{base_url}/api/v2/brands/{b.id}.json", "id": b.id, "name": b.name, "brand_url": base_url,
            "subdomain": b.subdomain, "host_mapping": None, "has_help_center": False,
            "help_center_state": "disabled", "active": True, "default": True, "is_deleted": False, "logo": None,
            "ticket_form_ids": [DEFAULT_TICKET_FORM_ID], "signature_template": "{{agent.signature}}",
            "created_at": iso_z(b.created_at), "updated_at": iso_z(b.created_at)}


def brand_response(request: HttpRequest, brand: Brand) -> dict[str, Any]:
    return json_response(200, {"brand": brand_json(brand, request.base_url)})


def brands_response(request: HttpRequest, brands: list[Brand]) -> dict[str, Any]:
    """By id, offset or cursor paginated as the client asks."""
    return zendesk.listed_response(request, "brands", brands, lambda b: [b.id], brand_json)
