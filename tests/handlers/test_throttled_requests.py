"""A request DynamoDB keeps throttling past every retry (botocore's, then the table helper's)
fails the same way on every surface: 503 with Retry-After, in the surface's own format, never a
500 or a client error."""
import json

import pytest
from support import Refusal, authorized, basic_auth, error_answer, http_event, load_handler

from automations.adapters import aws

LISTS = [("zendesk_list_automations", "/api/v2/automations.json", "Basic"),
         ("vipecloud_list_automations", "/automations", "VipeCloud"),
         ("piggy_automations_list", "/api/v3/oauth/clients/automations", "Bearer"),
         ("automations_list", "/v1/automations", "Basic")]


@pytest.mark.parametrize("function, path, scheme", LISTS, ids=[f for f, _, _ in LISTS])
@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_read_answers_503_with_retry_after(account, function, path, scheme, code):
    acct, key, _ = account
    header = {"Basic": basic_auth(acct.email, key), "VipeCloud": basic_auth(acct.email, key, token_style=False),
              "Bearer": f"Bearer {key}"}[scheme]
    event = authorized(http_event("GET", path, authorization=header))
    with Refusal(aws.client("dynamodb"), "Query", error_answer(code), times=100) as throttle:
        answer = load_handler(function)(event, None)
    assert throttle.refused == 1  # botocore's retries are behind the refusal; Busy is not retried again
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "2"
    assert json.loads(answer["body"])  # the surface's own error body
