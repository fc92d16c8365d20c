"""The native API (/v1): Powertools resolvers with pydantic models (which also give the OpenAPI
document), errors as {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from automations.errors import (
    Conflict, DomainError, MalformedRequest, NotFound, TooLarge, TooManyValues, Unauthenticated, ValidationFailed,
)
from automations.surfaces.http import MAX_BODY_BYTES, logger, principal_from_event

_STATUS = [(Unauthenticated, 401), (NotFound, 404), (Conflict, 409), (ValidationFailed, 422), (TooLarge, 413),
           (TooManyValues, 400), (MalformedRequest, 400)]


def _payload(code: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}})


def error_body(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    return Response(status, "application/json", _payload(code, message, details))


def domain_error_response(error: DomainError) -> Response:
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


class NativeResolver(APIGatewayHttpResolver):
    """Refuses a request without an account, or with an oversized body, before any route or
    validation runs: the caller learns about its credentials first, never about its fields."""

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if principal_from_event(event) is None:
            refusal = (401, _payload("unauthenticated", "Missing or invalid API key"))
        elif len((event.get("body") or "").encode()) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            refusal = (413, _payload("too_large", f"The request body is larger than {MAX_BODY_BYTES // 1024} KB"))
        else:
            return super().resolve(event, context)
        return {"statusCode": refusal[0], "headers": {"Content-Type": "application/json"}, "body": refusal[1],
                "isBase64Encoded": False}


def create_app() -> APIGatewayHttpResolver:
    app = NativeResolver(enable_validation=True)
    app.exception_handler(DomainError)(domain_error_response)
    app.exception_handler(RequestValidationError)(_validation_response)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_body(500, "internal", "Something went wrong; please retry")

    return app


def account_id(app: APIGatewayHttpResolver) -> str:
    principal = principal_from_event(app.current_event.raw_event)
    if principal is None:
        raise Unauthenticated("Missing or invalid API key")
    return principal.account_id
