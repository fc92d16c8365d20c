"""API Gateway HTTP API, in process: route matching, payload 2.0 events, the Lambda authorizer,
and the mapping of handler results to HTTP responses, each as API Gateway does it.

The event builders and ``invoke`` are reusable: the SQS and Scheduler drivers invoke functions
the same way."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from automations import clock
from automations_local import LOGGER_NAME, iam_coverage
from automations_local.template import ACCOUNT_ID, Function, Route, Template

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


# --- invoking functions --------------------------------------------------------------------------


class LambdaContext:
    """What Lambda passes as ``context`` (the attributes Powertools and handlers read)."""

    def __init__(self, function: Function, region: str, request_id: str | None = None) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.name}"
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Sandboxes:
    """A function's warm sandboxes. Each is its own instance of the handler module (its own
    Powertools resolver, whose ``current_event`` and ``context`` belong to one request) and
    serves one invocation at a time, as a Lambda sandbox does; concurrent invocations get
    another, loaded on demand, and an idle one is reused."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._idle: list[Callable] = []
        self._loaded = 0
        self._lock = threading.Lock()

    @contextmanager
    def handler(self) -> Iterator[Callable]:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            number = self._loaded
            self._loaded += handler is None
        if handler is None:
            try:
                handler = self._load(number)
            except BaseException:
                with self._lock:
                    self._loaded -= 1
                raise
        try:
            yield handler
        finally:
            with self._lock:
                self._idle.append(handler)

    def _load(self, number: int) -> Callable:
        """Import the handler module under a name unique to its file and sandbox."""
        source = self.function.handler_file
        digest = hashlib.sha1(str(source).encode()).hexdigest()[:8]
        module_name = f"_lambda_{self.function.logical_id}_{digest}_{number}"
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or not source.is_file():
            raise FileNotFoundError(f"{self.function.logical_id}: no handler module at {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pydantic and dataclasses look modules up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return getattr(module, self.function.handler_name)


_sandboxes: dict[tuple[str, str], _Sandboxes] = {}
_sandboxes_lock = threading.Lock()


def sandboxes(function: Function) -> _Sandboxes:
    key = (str(function.handler_file), function.handler_name)
    with _sandboxes_lock:
        if key not in _sandboxes:
            _sandboxes[key] = _Sandboxes(function)
        return _sandboxes[key]


def invoke(function: Function, event: Any, *, region: str = "us-east-1", request_id: str | None = None) -> Any:
    """Call a function's handler in process, in a sandbox of its own, as Lambda would;
    exceptions propagate."""
    with sandboxes(function).handler() as handler, iam_coverage.running(function.logical_id):
        started = time.monotonic()
        try:
            return handler(event, LambdaContext(function, region, request_id))
        finally:
            elapsed = time.monotonic() - started
            if elapsed > function.timeout_s:  # Lambda would have killed it; say so rather than hide it
                log.warning("%s ran %.1fs, over its %ss Timeout", function.logical_id, elapsed, function.timeout_s)


def invoke_async(function: Function, event: Any, *, region: str = "us-east-1") -> tuple[Any, Exception | None]:
    """An asynchronous invocation (EventBridge Scheduler's), as Lambda handles one: a function
    error is retried ``async_retries`` times (back to back here), then the invocation record goes
    to the function's OnFailure queue, if it has one. (result, None), or (None, the last error).
    Every attempt has the invocation's one request id, as in Lambda."""
    error: Exception | None = None
    request_id = str(uuid.uuid4())
    for _ in range(1 + function.async_retries):
        try:
            return invoke(function, event, region=region, request_id=request_id), None
        except Exception as failure:  # noqa: BLE001 - any function error is retried, as Lambda does
            error = failure
    log.error("%s failed %d times on an asynchronous invocation: %s", function.logical_id,
              1 + function.async_retries, error, exc_info=error)
    if function.on_failure_arn:
        _send_invocation_record(function, event, error, region)
    return None, error


def _send_invocation_record(function: Function, event: Any, error: Exception, region: str) -> None:
    """Lambda's invocation record for an OnFailure destination."""
    import boto3  # noqa: PLC0415 - only failed asynchronous invocations need it
    from botocore.exceptions import ClientError  # noqa: PLC0415

    record = {
        "version": "1.0", "timestamp": clock.iso_z(clock.now()),
        "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetriesExhausted",
                           "functionArn": f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.name}:$LATEST",
                           "approximateInvokeCount": 1 + function.async_retries},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }
    sqs = boto3.client("sqs", region_name=region)
    try:
        url = sqs.get_queue_url(QueueName=function.on_failure_arn.rsplit(":", 1)[1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
    except ClientError:
        log.exception("could not send %s's failed invocation to %s", function.logical_id, function.on_failure_arn)


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
