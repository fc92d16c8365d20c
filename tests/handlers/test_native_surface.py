"""What every native (/v1) endpoint shares: credentials first, then size, then fields."""
import pytest
from support import http_event, invoke


@pytest.mark.parametrize("body, raw", [({"name": 1}, None), (None, "{not json"), (None, "x" * 2_000_000)])
def test_unauthenticated_requests_learn_nothing_about_their_body(aws, body, raw):
    status, _, answer = invoke("webhooks_create", http_event("POST", "/v1/webhooks", body=body, raw_body=raw))
    assert (status, answer["error"]["code"]) == (401, "unauthenticated")
    assert answer["error"]["details"] == []


def test_oversized_bodies_are_refused_before_validation(account):
    status, _, answer = invoke("webhooks_create", http_event("POST", "/v1/webhooks", raw_body="x" * 2_000_000,
                                                             authorization=account[2]))
    assert (status, answer["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize("raw, status, code", [
    ("{not json", 400, "malformed"),
    ('{"name": "x"}', 422, "invalid"),
    ('{"name": "", "url": "ftp://example.com"}', 422, "invalid"),
    ('{"name": "hook", "url": "http://example.com/h", "extra": 1}', 422, "invalid"),
    ('{"name": "hook", "url": "http://example.com/h"}', 201, None),
])
def test_field_errors(account, raw, status, code):
    got, _, answer = invoke("webhooks_create", http_event("POST", "/v1/webhooks", raw_body=raw,
                                                          authorization=account[2]))
    assert got == status
    if code:
        assert answer["error"]["code"] == code and (code == "malformed" or answer["error"]["details"])


def test_foreign_and_unknown_ids_are_the_same_404(account):
    from automations.bootstrap import services
    from support import basic_auth

    other, key = services().accounts.create_account("Other", "other@else.test")
    made = invoke("webhooks_create", http_event("POST", "/v1/webhooks", body={"name": "h", "url": "http://example.com"},
                                                authorization=account[2]))[2]
    theirs = basic_auth(other.email, key)

    def get(webhook_id):
        return invoke("webhooks_get", http_event("GET", f"/v1/webhooks/{webhook_id}", route="/v1/webhooks/{webhook_id}",
                                                 path_params={"webhook_id": webhook_id}, authorization=theirs))

    foreign, missing = get(made["id"]), get("wh_0000000000000000")
    assert foreign[0] == missing[0] == 404
    assert foreign[2]["error"]["code"] == missing[2]["error"]["code"] == "not_found"
    assert "secret" not in invoke("webhooks_list", http_event("GET", "/v1/webhooks", authorization=account[2]))[2][
        "webhooks"][0]
