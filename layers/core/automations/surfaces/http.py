"""What every HTTP surface shares: reading an API Gateway HTTP API (v2) event into a request,
building responses, and the handler wrapper that turns domain errors into each surface's format
and never lets a traceback reach a response."""
from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from automations.domain.account import Principal
from automations.errors import DomainError, MalformedRequest, TooLarge, Unauthenticated, is_transient
from automations.inputs import is_storable_text, parse_json
from automations.snapstart import api_request, prime_before_snapshot
from automations.telemetry import lambda_handler, logger

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = 2  # what a throttled request is told to wait (Busy: AWS throttled the product past its retries)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def empty_response(status: int = 204) -> dict[str, Any]:
    return {"statusCode": status, "headers": {}, "body": ""}


_BODY_METHODS = {"POST", "PUT", "PATCH"}


def refuses_media_type(method: str, content_type: str, has_body: bool) -> str | None:
    """The native and local rule for every request: a body, and a POST, PUT or PATCH even without
    one, is JSON, sent with ``Content-Type: application/json`` (parameters such as a charset
    aside) or none; declared as anything else it is refused (415) with this message, else None."""
    media_type = content_type.split(";")[0].strip()
    if (has_body or method.upper() in _BODY_METHODS) and media_type.lower() not in ("", "application/json"):
        return f"The request body must be sent as JSON (Content-Type: application/json), not as {media_type}"
    return None


def principal_from_event(event: dict[str, Any]) -> Principal | None:
    """The authorizer's verdict, passed on by API Gateway in the request context."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if not context.get("account_id"):
        return None
    return Principal(account_id=context["account_id"], key_id=context.get("key_id", ""),
                     email=context.get("email", ""))


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    path_params: dict[str, str]
    raw_body: bytes
    principal: Principal | None
    base_url: str
    request_id: str = ""  # API Gateway's id of this request

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> HttpRequest:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        context = event.get("requestContext") or {}
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
        host = headers.get("host") or context.get("domainName", "localhost")
        query = dict(event.get("queryStringParameters") or {})
        path_params = dict(event.get("pathParameters") or {})
        _refuse_unstorable_text("query parameter", query)
        _refuse_unstorable_text("path parameter", path_params)
        return cls(
            method=(context.get("http") or {}).get("method", "GET"),
            path=event.get("rawPath", "/"),
            headers=headers,
            query=query,
            path_params=path_params,
            raw_body=raw,
            principal=principal_from_event(event),
            base_url=f"{scheme}://{host}",
            request_id=context.get("requestId", ""),
        )

    @property
    def account_id(self) -> str:
        if self.principal is None:
            raise Unauthenticated("no credentials")
        return self.principal.account_id

    def json(self, *, required: bool = True) -> Any:
        """The body as JSON; ``None`` for an empty body when not required."""
        if len(self.raw_body) > MAX_BODY_BYTES:
            raise TooLarge(f"the request body is larger than {MAX_BODY_BYTES // 1024} KB")
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise MalformedRequest(f"the request body must be JSON (Content-Type: application/json), not {content_type}",
                                   kind="content_type")
        if not self.raw_body.strip():
            if required:
                raise MalformedRequest("the request body is empty; a JSON object is expected", kind="json")
            return None
        return parse_json(self.raw_body)


def _refuse_unstorable_text(what: str, parameters: dict[str, str]) -> None:
    """Parameters are text the product may store, look up or log: the same rule as for bodies."""
    for name, value in parameters.items():
        if not (is_storable_text(name) and is_storable_text(value)):
            raise MalformedRequest(f"the {what} {name!a} contains a NUL character or an unpaired surrogate",
                                   kind="invalid_value", parameter=name if is_storable_text(name) else None)


class Surface(Protocol):
    def error_response(self, error: DomainError) -> dict[str, Any]: ...

    def unexpected_error_response(self) -> dict[str, Any]: ...

    def unknown_endpoint_response(self) -> dict[str, Any]: ...


def retry_later(answer: dict[str, Any]) -> dict[str, Any]:
    """A surface's "please retry" answer as 503 with Retry-After: the same for every surface, for
    Busy and any other transient failure (a throttle, an outage), which a retry will get past."""
    return {**answer, "statusCode": 503, "headers": {**answer.get("headers", {}), "Retry-After": str(RETRY_AFTER_SECONDS)}}


def unknown_endpoint(surface: Surface) -> Callable[[dict, Any], dict[str, Any]]:
    """The handler of a surface's catch-all route (``ANY /prefix/{proxy+}``): a path or method no
    route declares, answered in the surface's format rather than API Gateway's ``{"message"}``."""

    @lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return surface.unknown_endpoint_response()

    prime_before_snapshot(handler, lambda: [api_request("GET", "/priming")])
    return handler


def endpoint(surface: Surface, *, authenticated: bool = True) -> Callable[[Callable[[HttpRequest], dict]], Callable]:
    """Wrap a handler body ``fn(request) -> response`` into a Lambda handler for ``surface``."""

    def wrap(fn: Callable[[HttpRequest], dict[str, Any]]) -> Callable[[dict, Any], dict[str, Any]]:
        @lambda_handler
        @functools.wraps(fn)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                request = HttpRequest.from_event(event)
                if authenticated and request.principal is None:
                    raise Unauthenticated("no credentials")
                return fn(request)
            except Exception as error:
                if is_transient(error):
                    logger.warning("request throttled or interrupted: %s", error, extra={"path": event.get("rawPath")})
                    return retry_later(surface.unexpected_error_response())
                if isinstance(error, DomainError):
                    return surface.error_response(error)
                logger.exception("unhandled error", extra={"path": event.get("rawPath")})
                return surface.unexpected_error_response()

        prime_before_snapshot(handler, lambda: [api_request("GET", "/")])
        return handler

    return wrap
