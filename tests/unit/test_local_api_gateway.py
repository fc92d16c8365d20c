"""The in-process API Gateway: route precedence, payload 2.0 events, the authorizer, response
mapping and error answers, against a throwaway template and handlers."""
from __future__ import annotations

import base64
import json
import logging

import pytest
from throwaway_project import write_project

from automations_local import LOGGER_NAME
from automations_local.api_gateway import ApiGateway, HttpRequest, RouteTable, to_http_response
from automations_local.template import Route, load_template

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: KeyAuth
        Authorizers:
          KeyAuth:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/auth/, Handler: app.handler}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.handler
      Events:
        Show: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: "/items/{id}"}}
        Search: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /items/search}}
        SearchJson: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /items/search.json}}
        Create: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /items}}
        Files: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: ANY, Path: "/files/{proxy+}"}}
        Public: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /public, Auth: {Authorizer: NONE}}}
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom/
      Handler: app.handler
      Events:
        Boom: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /boom}}
  ShapedFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/shaped/
      Handler: app.handler
      Events:
        Shaped: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /shaped}}
"""

HANDLERS = {
    # The key comes in as "Bearer <verdict>": allow, deny, raise or garbage.
    "auth": """
        def handler(event, context):
            verdict = event["headers"]["authorization"].split()[-1]
            if verdict == "raise":
                raise RuntimeError("authorizer exploded")
            if verdict == "garbage":
                return {"allowed": True}
            return {"isAuthorized": verdict == "allow",
                    "context": {"account_id": "acc_1", "route": event["routeKey"], "type": event["type"],
                                "identity": event["identitySource"]}}
    """,
    "echo": """
        def handler(event, context):
            return {"event": event, "function": context.function_name,
                    "remaining_ms": context.get_remaining_time_in_millis()}
    """,
    "boom": """
        def handler(event, context):
            raise ValueError("secret internal detail")
    """,
    "shaped": """
        import base64

        def handler(event, context):
            return {"statusCode": 201, "headers": {"x-count": 3, "content-type": "application/octet-stream"},
                    "cookies": ["a=1", "b=2; Path=/"], "isBase64Encoded": True,
                    "body": base64.b64encode(b"\\xff\\x00").decode()}
    """,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    return ApiGateway(load_template(write_project(tmp_path_factory.mktemp("api"), TEMPLATE, HANDLERS)))


def call(gateway, method, target, *, headers=(("Authorization", "Bearer allow"),), body=b""):
    request = HttpRequest(method, target, [("Host", "localhost:3000"), *headers], body, "10.0.0.7")
    response = gateway.handle(request)
    return response, json.loads(response.body) if response.body else None


def echoed(gateway, method, target, **kwargs) -> dict:
    response, payload = call(gateway, method, target, **kwargs)
    assert response.status == 200, payload
    return payload["event"]


# --- matching ------------------------------------------------------------------------------------


def _table(*keys: str) -> RouteTable:
    return RouteTable([Route(key.split()[0], key.split()[1], "Fn", "Api", None) for key in keys])


@pytest.mark.parametrize("method, path, expected, parameters", [
    ("GET", "/items/search", "GET /items/search", {}),  # a literal beats {id}
    ("GET", "/items/search.json", "GET /items/search.json", {}),
    ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
    ("GET", "/items/42.json", "GET /items/{id}", {"id": "42.json"}),
    ("GET", "/items/a%20b", "GET /items/{id}", {"id": "a b"}),
    ("DELETE", "/items/42", "ANY /items/{proxy+}", {"proxy": "42"}),  # exact method only for GET
    ("GET", "/items/42/notes", "GET /items/{id}/notes", {"id": "42"}),
    ("GET", "/items/42/notes/7", "ANY /items/{proxy+}", {"proxy": "42/notes/7"}),
    ("PUT", "/items", "ANY /items", {}),
    ("GET", "/items", "GET /items", {}),
])
def test_route_precedence(method, path, expected, parameters):
    table = _table("GET /items/{id}", "GET /items/search", "GET /items/search.json", "ANY /items/{proxy+}",
                   "GET /items/{id}/notes", "ANY /items", "GET /items")
    route, found = table.match(method, path)
    assert (route.key, found) == (expected, parameters)


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/api/v2/x/notes", "GET /api/{id}/{part}/notes"),  # any non-greedy match beats a greedy one
    ("GET", "/api/v2/automations/7", "GET /api/v2/automations/{id}"),
    ("PATCH", "/api/v2/automations/7", "ANY /api/v2/{proxy+}"),  # an undeclared method: the catch-all
    ("GET", "/api/v2/elsewhere", "ANY /api/v2/{proxy+}"),  # the longest literal prefix among greedy ones
    ("GET", "/api/v3/elsewhere", "ANY /api/{proxy+}"),
    ("GET", "/api/v2/automations", "GET /api/v2/automations"),
])
def test_catch_all_routes_come_last(method, path, expected):
    table = _table("ANY /api/{proxy+}", "ANY /api/v2/{proxy+}", "GET /api/{id}/{part}/notes",
                   "GET /api/v2/automations/{id}", "GET /api/v2/automations", "ANY /api/v2/x/{proxy+}")
    assert table.match(method, path)[0].key == expected


@pytest.mark.parametrize("method, path", [
    ("GET", "/nothing"), ("GET", "/items/"), ("POST", "/items/search"), ("GET", "/items/search/more"), ("GET", "/"),
])
def test_no_match(method, path):
    assert _table("GET /items/{id}", "GET /items/search", "POST /items").match(method, path) is None


def test_default_route_takes_what_nothing_else_matches():
    table = RouteTable([Route("GET", "/items", "Fn", "Api", None), Route("ANY", "$default", "Other", "Api", None)])
    assert table.match("GET", "/items")[0].function_id == "Fn"
    assert table.match("POST", "/elsewhere")[0].key == "$default"


def test_unknown_route_answers_gateway_404(gateway):
    response, payload = call(gateway, "GET", "/nope")
    assert (response.status, payload) == (404, {"message": "Not Found"})


# --- the payload 2.0 event -----------------------------------------------------------------------


def test_event_shape(gateway):
    event = echoed(gateway, "GET", "/items/abc?page%5Bsize%5D=100&tag=a&tag=b&empty=&q=caf%C3%A9+au+lait",
                   headers=[("User-Agent", "pytest"), ("X-Multi", "1"), ("x-multi", "2"),
                            ("Cookie", "s=1; t=2"), ("Authorization", "Bearer allow")])
    assert event["headers"]["authorization"] == "Bearer allow"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/abc"
    assert event["rawQueryString"] == "page%5Bsize%5D=100&tag=a&tag=b&empty=&q=caf%C3%A9+au+lait"
    assert event["queryStringParameters"] == {"page[size]": "100", "tag": "a,b", "empty": "", "q": "café au lait"}
    assert event["pathParameters"] == {"id": "abc"}
    assert event["cookies"] == ["s=1", "t=2"]
    headers = event["headers"]
    assert headers["x-multi"] == "1,2" and headers["user-agent"] == "pytest" and "cookie" not in headers
    assert headers["x-forwarded-for"] == "10.0.0.7" and headers["x-forwarded-port"] == "3000"
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/items/abc", "protocol": "HTTP/1.1",
                               "sourceIp": "10.0.0.7", "userAgent": "pytest"}
    assert context["domainName"] == "localhost" and context["domainPrefix"] == "localhost"
    assert context["routeKey"] == "GET /items/{id}" and context["stage"] == "$default"
    assert context["accountId"] and context["apiId"] and context["requestId"]
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")


def test_event_omits_absent_parts(gateway):
    event = echoed(gateway, "GET", "/items/search")
    assert {"queryStringParameters", "pathParameters", "cookies"}.isdisjoint(event)
    assert event["rawQueryString"] == ""


def test_bodies_text_and_binary(gateway):
    text = echoed(gateway, "POST", "/items", body='{"name": "é"}'.encode())
    assert (text["body"], text["isBase64Encoded"]) == ('{"name": "é"}', False)
    binary = echoed(gateway, "POST", "/items", body=b"\xff\xfe\x00")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\xff\xfe\x00"


def test_handler_gets_a_lambda_context(gateway):
    _, payload = call(gateway, "GET", "/items/1")
    assert payload["function"] == "automations-local-EchoFunction"
    assert 0 < payload["remaining_ms"] <= 3000  # the default Timeout of 3 s


# --- the authorizer ------------------------------------------------------------------------------


def test_authorizer_context_reaches_the_handler(gateway):
    event = echoed(gateway, "GET", "/items/7")
    assert event["requestContext"]["authorizer"] == {
        "lambda": {"account_id": "acc_1", "route": "GET /items/{id}", "type": "REQUEST",
                   "identity": ["Bearer allow"]}}


def test_missing_identity_source_is_unauthorized(gateway):
    response, payload = call(gateway, "GET", "/items/7", headers=[("Authorization", "")])
    assert (response.status, payload) == (401, {"message": "Unauthorized"})


def test_denial_is_forbidden(gateway):
    response, payload = call(gateway, "GET", "/items/7", headers=[("Authorization", "Bearer deny")])
    assert (response.status, payload) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize("verdict", ["raise", "garbage"])
def test_failing_authorizer_is_a_500(gateway, verdict):
    response, payload = call(gateway, "GET", "/items/7", headers=[("Authorization", f"Bearer {verdict}")])
    assert (response.status, payload) == (500, {"message": "Internal Server Error"})


def test_route_without_auth_skips_the_authorizer(gateway):
    event = echoed(gateway, "GET", "/public", headers=[("Authorization", "Bearer raise")])
    assert "authorizer" not in event["requestContext"]


# --- responses -----------------------------------------------------------------------------------


def test_handler_exception_is_a_500_without_traceback(gateway, caplog):
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        response, payload = call(gateway, "GET", "/boom")
    assert (response.status, payload) == (500, {"message": "Internal Server Error"})
    assert b"secret" not in response.body and b"Traceback" not in response.body
    assert "secret internal detail" in caplog.text  # the log keeps the traceback


def test_shaped_response(gateway):
    response = gateway.handle(HttpRequest("GET", "/shaped", [("Host", "localhost"), ("Authorization", "Bearer allow")]))
    assert response.status == 201 and response.body == b"\xff\x00"
    assert ("x-count", "3") in response.headers
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2; Path=/"]
    assert any(k == "apigw-requestid" for k, _ in response.headers)


@pytest.mark.parametrize("result, status, body", [
    ({"id": 1}, 200, b'{"id": 1}'),  # no statusCode: the whole result is a JSON body
    ([1, 2], 200, b"[1, 2]"),
    ("text", 200, b'"text"'),
    ({"statusCode": 204}, 204, b""),
    ({"statusCode": 200, "body": "plain"}, 200, b"plain"),
])
def test_results_map_like_api_gateway(result, status, body):
    response = to_http_response(result)
    assert (response.status, response.body) == (status, body)


@pytest.mark.parametrize("result", [{"statusCode": "200"}, {"statusCode": 99}, {"statusCode": 200, "body": {"a": 1}}])
def test_malformed_results_are_rejected(result):
    with pytest.raises(ValueError):
        to_http_response(result)


@pytest.mark.parametrize("method, path, function", [
    ("GET", "/api/v2/tickets/show_many.json", "ZendeskShowManyTicketsFunction"),
    ("PUT", "/api/v2/tickets/update_many", "ZendeskUpdateManyTicketsFunction"),
    ("DELETE", "/api/v2/tickets/destroy_many.json", "ZendeskDestroyManyTicketsFunction"),
    ("DELETE", "/api/v2/tickets/7.json", "ZendeskDeleteTicketFunction"),
    ("GET", "/api/v2/users/me.json", "ZendeskCurrentUserFunction"),
    ("GET", "/api/v2/users/search.json", "ZendeskSearchUsersFunction"),
    ("GET", "/api/v2/users/show_many", "ZendeskShowManyUsersFunction"),
    ("GET", "/api/v2/users/12.json", "ZendeskShowUserFunction"),
    ("GET", "/api/v2/job_statuses/show_many.json", "ZendeskShowManyJobStatusesFunction"),
    ("DELETE", "/api/v2/deleted_tickets/destroy_many.json", "ZendeskDestroyManyDeletedTicketsFunction"),
    ("DELETE", "/api/v2/deleted_tickets/7.json", "ZendeskDestroyDeletedTicketFunction"),
])
def test_the_templates_named_zendesk_routes_beat_its_id_routes(method, path, function):
    route, _ = RouteTable(load_template().routes).match(method, path)
    assert route.function_id == function
