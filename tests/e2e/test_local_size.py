"""The local runtime at the size of a real account: its own AWS calls skip the socket; `automations
seed` makes a realistic account through the APIs."""
from __future__ import annotations

import pytest
import requests

from automations.adapters import aws

pytestmark = pytest.mark.e2e


def test_the_runtimes_own_aws_calls_reach_moto_without_http(local_runtime, monkeypatch):
    runtime = local_runtime.runtime
    handler = runtime._moto.RequestHandlerClass
    served = []
    handle = handler.handle
    monkeypatch.setattr(handler, "handle", lambda request: served.append(1) or handle(request))
    table = runtime.template.physical_name("Table")
    assert table in aws.client("dynamodb").list_tables()["TableNames"]
    assert served == []
    # Another process's call, over HTTP: the count sees it.
    answer = requests.post(runtime.aws_endpoint, data="{}", timeout=30, headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20300101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    assert table in answer.json()["TableNames"] and served


def test_seed_makes_a_realistic_account_through_the_apis(local_runtime):
    from automations_local import seed

    account = seed.dev_account(local_runtime.base_url)
    before = account.native("GET", "/v1/contacts?limit=100")["contacts"]
    made = seed.seed(account, contacts=12, ticket_count=130, say=lambda line: None)
    assert (made["contacts"], made["tickets"], made["lists"]) == (12, 130, 2) and made["automations"] >= 3
    contacts = account.native("GET", "/v1/contacts?limit=100")["contacts"]
    assert len(contacts) - len(before) == 12
    lists = {group["name"]: group for group in account.native("GET", "/v1/contact-lists")["contact_lists"]}
    assert {"Newsletter", "VIP customers"} <= set(lists)
    tickets = account.zendesk("GET", "/api/v2/tickets.json?per_page=100")
    assert tickets["count"] >= 130 and {t["status"] for t in tickets["tickets"]} >= {"new", "open", "pending"}
    seed.seed(account, contacts=1, ticket_count=0, say=lambda line: None)  # again: no duplicate rule refused
