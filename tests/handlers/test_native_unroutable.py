"""Requests a native handler's route cannot take (found by schemathesis against the OpenAPI
document): each answers a native error, never the catch-all 500."""
import base64

import pytest
from support import http_event, invoke


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", '{"name": "hook", "url": "http://example.com/h"}'),
    ("multipart/form-data", '{"name": "hook", "url": "http://example.com/h"}'),  # no boundary
    ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nhook\r\n--x--'),
    ("application/x-www-form-urlencoded", "name=hook&url=http%3A%2F%2Fexample.com%2Fh"),
    ("text/plain", None),  # the method takes a body, even when none is sent
])
def test_a_body_sent_as_something_else_than_json_is_415(account, content_type, body):
    event = http_event("POST", "/v1/webhooks", raw_body=body, authorization=account[2])
    event["headers"]["content-type"] = content_type
    status, _, answer = invoke("webhooks_create", event)
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")
    assert answer["error"]["message"] == ("The request body must be sent as JSON (Content-Type: application/json), "
                                          f"not as {content_type.split(';')[0]}")


def test_a_stray_content_type_on_a_request_without_body_is_ignored(account):
    event = http_event("GET", "/v1/webhooks", authorization=account[2])
    event["headers"]["content-type"] = "text/plain"
    assert invoke("webhooks_list", event)[0] == 200


def test_the_json_content_type_with_a_charset_is_json(account):
    event = http_event("POST", "/v1/webhooks", body={"name": "hook", "url": "http://example.com/h"},
                       authorization=account[2])
    event["headers"]["content-type"] = "application/json; charset=utf-8"
    assert invoke("webhooks_create", event)[0] == 201


@pytest.mark.parametrize("function, method, path, route, parameter", [
    ("contacts_get", "GET", "/v1/contacts/\U0008f087", "/v1/contacts/{contact_uuid}", "contact_uuid"),
    ("groups_delete", "DELETE", "/v1/groups/1\u00a0", "/v1/groups/{group_id}", "group_id"),
])
def test_an_id_no_route_pattern_matches_is_a_404(account, function, method, path, route, parameter):
    event = http_event(method, path, route=route, path_params={parameter: path.rsplit("/", 1)[1]},
                       authorization=account[2])
    status, _, answer = invoke(function, event)
    assert (status, answer["error"]["code"]) == (404, "not_found")


def test_a_body_that_is_not_utf8_is_malformed_json(account):
    event = http_event("POST", "/v1/webhooks", raw_body=base64.b64encode(b'{"name": "\xff\xfe"}').decode(),
                       authorization=account[2])
    event["isBase64Encoded"] = True  # how API Gateway hands over a body that is not text
    status, _, answer = invoke("webhooks_create", event)
    assert (status, answer["error"]["code"]) == (400, "malformed")
