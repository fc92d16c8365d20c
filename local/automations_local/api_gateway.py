"""API Gateway HTTP API, in process: route matching, payload 2.0 events, the Lambda authorizer,
and the mapping of handler results to HTTP responses, each as API Gateway does it. The functions
run in ``lambdas``, as the SQS and Scheduler drivers run theirs."""
from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from automations import clock
from automations_local import LOGGER_NAME
from automations_local.lambdas import invoke
from automations_local.template import ACCOUNT_ID, Route, Template

log = logging.getLogger(LOGGER_NAME)

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LOCAL_API_ID = "local"


# --- HTTP messages -------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    target: str  # path and query exactly as received
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def raw_query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.headers if key.lower() == name.lower()), default)


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(payload).encode())


def gateway_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own error body, e.g. {"message": "Not Found"}."""
    return json_response(status, {"message": message})


# --- route matching ------------------------------------------------------------------------------

_LITERAL, _PARAMETER, _GREEDY = 0, 1, 2  # lower is more specific


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    return _PARAMETER if segment.startswith("{") and segment.endswith("}") else _LITERAL


class RouteTable:
    """Picks the route API Gateway would: a full match beats one with {param}, which beats one with
    a greedy {proxy+}; an exact method beats ANY; $default takes what nothing else matches."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(route, _segments(route.path)) for route in routes if route.path != "$default"]
        self._default = next((route for route in routes if route.path == "$default"), None)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        requested = [unquote(segment) for segment in _segments(path)]
        best = None
        for route, pattern in self._routes:
            if route.method not in (method, "ANY"):
                continue
            parameters = _match_segments(pattern, requested)
            if parameters is None:
                continue
            kinds = [_kind(segment) for segment in pattern]
            # A route without {proxy+} beats any greedy one; then literal beats {param}, segment by
            # segment (so the greedy route with the longest literal prefix wins); then method beats ANY.
            rank = (_GREEDY in kinds, kinds, route.method == "ANY")
            if best is None or rank < best[0]:
                best = (rank, route, parameters)
        if best is not None:
            return best[1], best[2]
        return (self._default, {}) if self._default else None


def _match_segments(pattern: list[str], requested: list[str]) -> dict[str, str] | None:
    parameters = {}
    for index, segment in enumerate(pattern):
        kind = _kind(segment)
        if kind == _GREEDY:
            rest = "/".join(requested[index:])
            if not rest:
                return None
            parameters[segment[1:-2]] = rest
            return parameters
        if index >= len(requested):
            return None
        if kind == _PARAMETER:
            if not requested[index]:
                return None
            parameters[segment[1:-1]] = requested[index]
        elif segment != requested[index]:
            return None
    return parameters if len(pattern) == len(requested) else None


# --- payload 2.0 events --------------------------------------------------------------------------


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """API Gateway joins a repeated header or query parameter with commas."""
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def event_headers(request: HttpRequest) -> dict[str, str]:
    """Lower-cased headers as API Gateway forwards them: cookies apart, x-forwarded-* added."""
    headers = _joined([(key.lower(), value) for key, value in request.headers if key.lower() != "cookie"])
    _, _, port = headers.get("host", "").partition(":")
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    headers["x-forwarded-proto"] = "http"
    headers["x-forwarded-port"] = port or "80"
    return headers


def request_context(request: HttpRequest, route_key: str, request_id: str) -> dict:
    now = clock.now()
    domain = request.header("host", "localhost").partition(":")[0]
    return {
        "accountId": ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": unquote(request.raw_path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent"),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }


def _request_parts(request: HttpRequest, route_key: str, path_parameters: dict[str, str],
                   context: dict) -> dict:
    """The fields a route event and an authorizer event share."""
    parts = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": unquote(request.raw_path),  # HTTP APIs hand over the path decoded
        "rawQueryString": request.raw_query,
        "headers": event_headers(request),
        "requestContext": context,
    }
    cookies = [cookie.strip() for key, value in request.headers if key.lower() == "cookie"
               for cookie in value.split(";") if cookie.strip()]
    query = _joined(parse_qsl(request.raw_query, keep_blank_values=True))
    for key, value in (("cookies", cookies), ("queryStringParameters", query), ("pathParameters", path_parameters)):
        if value:
            parts[key] = value
    return parts


def http_event(request: HttpRequest, route_key: str, path_parameters: dict[str, str], context: dict,
               authorizer_context: dict | None = None) -> dict:
    """The payload 2.0 event a route's function receives."""
    event = _request_parts(request, route_key, path_parameters, context)
    if authorizer_context is not None:
        event["requestContext"] = {**context, "authorizer": {"lambda": authorizer_context}}
    event["isBase64Encoded"] = False
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def authorizer_event(request: HttpRequest, route_key: str, path_parameters: dict[str, str], context: dict,
                     identity_source: list[str], region: str) -> dict:
    """The payload 2.0 REQUEST event a Lambda authorizer receives."""
    route_arn = f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{LOCAL_API_ID}/$default/{request.method}{request.raw_path}"
    return {**_request_parts(request, route_key, path_parameters, context),
            "type": "REQUEST", "routeArn": route_arn, "identitySource": identity_source}


# --- responses -----------------------------------------------------------------------------------


def to_http_response(result: Any) -> HttpResponse:
    """Map a handler's return value the way API Gateway maps payload 2.0 responses."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything else is taken as the JSON body of a 200.
        return json_response(200, result)
    status, body = result["statusCode"], result.get("body") or ""
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    headers = [(key, str(value)) for key, value in (result.get("headers") or {}).items()]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return HttpResponse(status, headers, payload)


# --- the gateway ---------------------------------------------------------------------------------


class ApiGateway:
    """Serves the template's HTTP API routes by invoking their functions in process."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.routes = RouteTable(template.routes)

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        response = self._handle(request, request_id)
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return gateway_error(404, "Not Found")
        route, path_parameters = match
        context = request_context(request, route.key, request_id)
        authorizer_context = None
        if route.authorizer is not None:
            identity = self._identity_source(route, request)
            if identity is None:
                return gateway_error(401, "Unauthorized")
            event = authorizer_event(request, route.key, path_parameters, context, identity, self.template.region)
            try:
                authorized, authorizer_context = _simple_response(self._invoke(route.authorizer.function_id, event))
            except Exception:
                log.exception("authorizer %s failed on %s", route.authorizer.function_id, route.key)
                return gateway_error(500, "Internal Server Error")
            if not authorized:
                return gateway_error(403, "Forbidden")
        event = http_event(request, route.key, path_parameters, context, authorizer_context)
        try:
            return to_http_response(self._invoke(route.function_id, event))
        except Exception:
            log.exception("%s failed on %s", route.function_id, route.key)
            return gateway_error(500, "Internal Server Error")

    def _invoke(self, function_id: str, event: dict) -> Any:
        return invoke(self.template.functions[function_id], event, region=self.template.region)

    @staticmethod
    def _identity_source(route: Route, request: HttpRequest) -> list[str] | None:
        """Values of the authorizer's declared identity sources; None when one is missing (401)."""
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        values = [request.header(name) for name in route.authorizer.identity_headers]
        values += [query.get(name, "") for name in route.authorizer.identity_query_strings]
        return None if not all(values) else values


def _simple_response(result: Any) -> tuple[bool, dict]:
    if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
        raise ValueError(f"authorizer returned {result!r}, not a simple response")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise ValueError("authorizer context must be an object")
    return result["isAuthorized"], context
