"""The local runtime at the size of a real account: its own AWS calls skip the socket."""
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
