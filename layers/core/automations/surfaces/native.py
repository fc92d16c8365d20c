"""The native API (/v1): Powertools resolvers with pydantic models (which also give the OpenAPI
document), errors as {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from automations.errors import (
    Conflict, DomainError, MalformedRequest, NotFound, TooLarge, TooManyValues, Unauthenticated, ValidationFailed,
    is_transient,
)
from automations.inputs import parse_json
from automations.surfaces.http import MAX_BODY_BYTES, RETRY_AFTER_SECONDS, logger, principal_from_event
from automations.surfaces.native_errors import error_answer, error_payload
from automations.telemetry import lambda_handler

# The handlers take Powertools' names from here, so that automations.surfaces has set up its packages first.
__all__ = ["Body", "Query", "Response", "account_id", "create_app"]

_STATUS = [(Unauthenticated, 401), (NotFound, 404), (Conflict, 409), (ValidationFailed, 422), (TooLarge, 413),
           (TooManyValues, 400), (MalformedRequest, 400)]


def error_body(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    return Response(status, "application/json", error_payload(code, message, details))


def _retry_later(error: Exception) -> Response:
    """Busy, or another transient failure: 503 with Retry-After, as on every surface."""
    logger.warning("request throttled or interrupted: %s", error)
    return Response(503, "application/json", error_payload("busy", "The service is busy; please retry"),
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def domain_error_response(error: DomainError) -> Response:
    if is_transient(error):
        return _retry_later(error)
    status = next((s for kind, s in _STATUS if isinstance(error, kind)), 500)
    details = [{"field": e.field, "message": e.message} for e in getattr(error, "errors", [])]
    message = error.message or {401: "Missing or invalid API key"}.get(status, "Request failed")
    return error_body(status, error.code, message, details)


def _validation_response(error: RequestValidationError) -> Response:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_body(400, "malformed", "The request body is not valid JSON")
    details = [{"field": ".".join(str(part) for part in p.get("loc", ())[1:]) or p.get("loc", ("body",))[0],
                "message": p.get("msg", "invalid")} for p in problems]
    return error_body(422, "invalid", "The request is not valid", details)


_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _body_is_not_json(event: dict[str, Any]) -> bool:
    """A Content-Type other than JSON on a request with a body, or on a method that takes one: left
    to Powertools, forms and multipart would be parsed (and a multipart without boundary is a 500)."""
    content_type = ((event.get("headers") or {}).get("content-type") or "").strip().lower()
    method = event.get("requestContext", {}).get("http", {}).get("method")
    carries_body = bool(event.get("body")) or method in _BODY_METHODS
    return carries_body and content_type != "" and not content_type.startswith("application/json")


def _unreadable_body(event: dict[str, Any]) -> str | None:
    """Why the body cannot be read as JSON (not UTF-8, or outside the rules of inputs.parse_json),
    or None. Powertools' own decoding would raise on the first (a 500) and accept the others."""
    body = event.get("body") or ""
    try:
        text = base64.b64decode(body).decode("utf-8") if event.get("isBase64Encoded") else body
    except ValueError:  # binascii.Error and UnicodeDecodeError both are
        return "The request body is not valid JSON (it is not UTF-8)"
    if not text.strip():
        return None
    try:
        parse_json(text)
    except MalformedRequest as error:
        return error.message[0].upper() + error.message[1:]
    return None


class NativeResolver(APIGatewayHttpResolver):
    """Refuses a request without an account, with an oversized body or with a body that cannot be
    JSON, before any route or validation runs: the caller learns about its credentials first,
    never about its fields. Every resolution goes through the handlers' telemetry."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._observed = lambda_handler(self._refuse_or_resolve)

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._observed(event, context)

    def _refuse_or_resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if principal_from_event(event) is None:
            return error_answer(401, "unauthenticated", "Missing or invalid API key")
        if len((event.get("body") or "").encode()) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            return error_answer(413, "too_large", f"The request body is larger than {MAX_BODY_BYTES // 1024} KB")
        if _body_is_not_json(event):
            return error_answer(415, "unsupported_media_type",
                                "The request body must be JSON (Content-Type: application/json)")
        if unreadable := _unreadable_body(event):
            return error_answer(400, "malformed", unreadable)
        return super().resolve(event, context)


def _no_such_resource(error: NotFoundError) -> Response:
    """A path the route cannot match (an id with characters no id has) names nothing; without this,
    the catch-all handler would answer it with a 500."""
    return error_body(404, "not_found", "No such resource")


def create_app() -> APIGatewayHttpResolver:
    app = NativeResolver(enable_validation=True)
    app.exception_handler(DomainError)(domain_error_response)
    app.exception_handler(RequestValidationError)(_validation_response)
    app.not_found(_no_such_resource)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        if is_transient(error):
            return _retry_later(error)
        logger.exception("unhandled error")
        return error_body(500, "internal", "Something went wrong; please retry")

    return app


def account_id(app: APIGatewayHttpResolver) -> str:
    principal = principal_from_event(app.current_event.raw_event)
    if principal is None:
        raise Unauthenticated("Missing or invalid API key")
    return principal.account_id

