"""End to end over the local runtime: the native automations API on the wire, every kind side by
side with the Zendesk and VipeCloud surfaces, and a dry run that sends nothing."""
from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def native(local_runtime):
    account = local_runtime.create_account("Native Co", timezone="Europe/Amsterdam")
    headers = {"Authorization": f"Bearer {account['api_key']}"}

    def call(method, path, **kwargs):
        return local_runtime.request(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

    account["call"] = call
    return account


def test_automations_over_http(native, local_runtime):
    call = native["call"]
    template = call("POST", "/v1/templates", json={"title": "Thanks", "type": "email",
                                                   "subject": "Thanks {{ contact.first_name }}",
                                                   "text": "Order {{ data.order }}"}).json()["id"]
    contact_list = call("POST", "/v1/contact-lists", json={"name": "Buyers"}).json()["id"]
    contact = call("POST", "/v1/contacts", json={"email": "ada@example.com", "first_name": "Ada"}).json()["uuid"]

    created = call("POST", "/v1/automations", json={
        "title": "Thank big buyers", "trigger": "event", "trigger_config": {"event": "shop.order_placed"},
        "conditions": {"all": [{"field": "data.total", "operator": "greater_than", "value": 100}]},
        "actions": [{"kind": "send_email", "template_id": template}]})
    assert created.status_code == 201, created.text
    automation = created.json()
    assert call("GET", f"/v1/automations/{automation['uuid']}").json() == automation

    joined = call("POST", "/v1/automations", json={
        "title": "Welcome buyers", "trigger": "list_joined",
        "trigger_config": {"source": {"kind": "list", "id": contact_list}, "delay": {"hours": 1}},
        "actions": [{"kind": "send_email", "template_id": template}]}).json()
    vip = base64.b64encode(f"{native['email']}:{native['api_key']}".encode()).decode()
    shown = local_runtime.request("GET", f"/automations/{joined['id']}", headers={"Authorization": f"Basic {vip}"})
    assert shown.status_code == 200 and shown.json()["contact_list_id"] == contact_list
    assert shown.json()["delay_hours"] == 1

    zendesk = call("GET", "/api/v2/automations.json").json()["automations"]
    assert [a["title"] for a in zendesk] == ["Close ticket 4 days after status is set to solved"]
    listed = call("GET", "/v1/automations", params={"subject": "contact", "limit": 1})
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["automations"]] == [automation["id"]]
    rest = call("GET", "/v1/automations", params={"subject": "contact", "cursor": listed.json()["next_cursor"]})
    assert [a["id"] for a in rest.json()["automations"]] == [joined["id"]]

    dry = call("POST", f"/v1/automations/{automation['id']}/test",
               json={"contact_uuid": contact, "data": {"total": 250, "order": "A-17"}})
    assert dry.status_code == 200, dry.text
    assert dry.json()["matches"] is True and dry.json()["would_send"][0]["subject"] == "Thanks Ada"
    assert "A-17" in dry.json()["would_send"][0]["body"]
    outbox = local_runtime.request("GET", "/_local/outbox", params={"account_id": native["account_id"]}).json()
    assert outbox["deliveries"] == []  # a dry run sends nothing

    patched = call("PATCH", f"/v1/automations/{automation['id']}", json={"active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert call("DELETE", f"/v1/automations/{automation['id']}").status_code == 204
    gone = call("GET", f"/v1/automations/{automation['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_errors_on_the_wire(native):
    call = native["call"]
    bad = call("POST", "/v1/automations", data="{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed"
    invalid = call("POST", "/v1/automations", json={"title": "x", "trigger": "event",
                                                    "trigger_config": {"event": "order_placed"},
                                                    "actions": [{"kind": "emit_event", "detail_type": "x"}]})
    assert invalid.status_code == 422 and invalid.json()["error"]["details"][0]["field"] == "trigger_config.event"
    assert call("GET", "/v1/automations", params={"cursor": "%%%"}).status_code == 400
    assert call("GET", "/v1/automations", headers={"Authorization": "Bearer wrong"}).status_code == 401
