"""Hostile input over real HTTP through the local runtime (a representative subset of
tests/handlers/test_hostile_input.py, plus the catch-all routes): each answer is in the surface's
own format, never a 5xx, and the account's records are what they were."""
from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.e2e

RUNS = "/api/v3/oauth/clients/automations/runs"
DEEP = "[" * 100_000


@pytest.fixture(scope="module")
def account(local_runtime):
    """A fresh account: its key, one contact and a Piggy-runnable automation."""
    created = local_runtime.create_account("Hostile")
    client = local_runtime.as_account({"Authorization": f"Bearer {created['api_key']}"})
    template = client.make("/v1/templates", {"title": "Mail", "type": "email", "subject": "Hi", "text": "Hi"})
    automation = client.make("/v1/automations", {
        "title": "On update", "trigger": "event", "trigger_config": {"event": "contact_updated"},
        "conditions": {"all": [], "any": []}, "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    contact = client.make("/v1/contacts", {"email": "ada@example.com"})
    return {"client": client, "contact": contact["uuid"], "automation": automation["uuid"]}


def records(client) -> list:
    """What the account holds, as its clients see it."""
    return [client.call("GET", path).json() for path in (
        "/api/v2/automations.json", "/api/v2/tickets.json", "/automations", "/v1/contacts", "/v1/runs",
        "/v1/automations", "/api/v3/oauth/clients/automations")]


def zendesk(response):
    body = response.json()
    assert 400 <= response.status_code < 500 and {"error", "description"} <= set(body), response.text


def vipecloud(response):
    body = response.json()
    assert 400 <= response.status_code < 500 and body["status"] == "error" and body["message"], response.text


def piggy(response):
    body = response.json()
    assert 400 <= response.status_code < 500 and body["status_code"] == response.status_code, response.text
    assert isinstance(body["code"], int) and body["message"], response.text


def native(response):
    assert 400 <= response.status_code < 500 and set(response.json()["error"]) == {"code", "message", "details"}, \
        response.text


def bodies(account):
    piggy_run = f'{{"contact_uuid": "{account["contact"]}", "automation_uuid": "{account["automation"]}", "data": '
    return [
        (zendesk, "POST", "/api/v2/automations.json", '{"automation": {"title": '),
        (zendesk, "POST", "/api/v2/tickets.json", '{"ticket": {"subject": '),
        (vipecloud, "POST", "/automations", '{"contact_list_id": '),
        (piggy, "POST", RUNS, piggy_run),
        (native, "POST", "/v1/contacts", '{"email": "grace@example.com", "first_name": '),
    ]


def closed(head: str, value: str) -> bytes:
    return (head + value + "}" * (head.count("{") - head.count("}"))).encode()


@pytest.mark.parametrize("value", [DEEP, '"\\ud83d"', '"a\\u0000"', "NaN", "1e400", "9" * 5000, '"x" "y"'],
                         ids=["deep", "surrogate", "nul", "nan", "overflow", "5000 digits", "not json"])
def test_hostile_bodies(local_runtime, account, value):
    client = account["client"]
    before = records(client)
    for check, method, path, head in bodies(account):
        check(client.call(method, path, data=closed(head, value), headers={"Content-Type": "application/json"}))
    assert records(client) == before


def test_oversized_and_mistyped_bodies(local_runtime, account):
    client = account["client"]
    before = records(client)
    for check, method, path, head in bodies(account):
        check(client.call(method, path, data=closed(head, '"' + "x" * (1024 * 1024) + '"'),
                          headers={"Content-Type": "application/json"}))
        check(client.call(method, path, data=closed(head, '"fine"'), headers={"Content-Type": "text/plain"}))
    assert records(client) == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_ascii_digits_name_no_zendesk_automation(local_runtime, account, method):
    client = account["client"]
    before = records(client)
    response = client.call(method, "/api/v2/automations/%D9%A1", json={"automation": {"title": "Taken over"}})
    assert (response.status_code, response.json()) == (404, {"error": "RecordNotFound", "description": "Not found"})
    assert records(client) == before


@pytest.mark.parametrize("query", ["page=1&page=2", "per_page=%C2%B2", "page%5Bsize%5D=" + "9" * 5000,
                                   "page%5Bafter%5D=" + base64.urlsafe_b64encode(DEEP.encode()).decode()[:6000]])
def test_odd_paging_is_a_zendesk_400(local_runtime, account, query):
    response = account["client"].call("GET", f"/api/v2/automations.json?{query}")
    assert response.status_code == 400
    zendesk(response)


@pytest.mark.parametrize("method, path, check", [
    ("PATCH", "/api/v2/automations/1", zendesk), ("GET", "/api/v2/nowhere", zendesk),
    ("DELETE", "/automations/1", vipecloud), ("PUT", "/autoresponders", vipecloud),
    ("GET", "/api/v3/oauth/clients/nowhere", piggy), ("GET", RUNS, piggy),
    ("PUT", "/v1/contacts", native), ("GET", "/v1/nowhere", native),
])
def test_unknown_paths_and_methods(local_runtime, account, method, path, check):
    response = account["client"].call(method, path)
    assert response.status_code == 404
    check(response)
