"""The native API (/v1): Powertools resolvers with pydantic models (which also give the OpenAPI
document), errors as {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from automations.errors import (
    Conflict, DomainError, FieldError, MalformedRequest, NotFound, TooLarge, TooManyValues, Unauthenticated,
    ValidationFailed, is_transient,
)
from automations.inputs import parse_json, parse_whole
from automations.paging import cursor_page
from automations.snapstart import api_request, prime_before_snapshot
from automations.surfaces import native_problems
from automations.surfaces.http import MAX_BODY_BYTES, RETRY_AFTER_SECONDS, logger, principal_from_event, refuses_media_type
from automations.surfaces.native_errors import error_answer, error_payload
from automations.telemetry import lambda_handler

if TYPE_CHECKING:
    from pydantic import BaseModel

# The handlers take Powertools' names from here, so that automations.surfaces has set up its packages first.
__all__ = ["Body", "Query", "Response", "account_id", "changes", "create_app", "id_page", "no_content", "path_id"]

T = TypeVar("T")

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


def _validation_response(app: APIGatewayHttpResolver, error: RequestValidationError) -> Response:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_body(400, "malformed", "The request body is not valid JSON")
    return _invalid_response(request_problems(app, problems))


def _invalid_response(errors: list[FieldError]) -> Response:
    details = [{"field": e.field, "message": e.message} for e in errors]
    return error_body(422, "invalid", native_problems.summary(errors), details)


def request_problems(app: APIGatewayHttpResolver, problems: list[dict[str, Any]]) -> list[FieldError]:
    """pydantic's problems with a request, in the product's words: the route's parameters and body
    model say what each place takes."""
    dependant = app.context["_route"].dependant
    event = app.current_event
    found: list[FieldError] = []
    for problem in problems:
        where, *inside = problem.get("loc") or ("body",)
        if where == "body":
            body = event.json_body if (event.body or "").strip() else None
            params, value, root_path = dependant.body_params, body, ()  # one body model per route
        else:
            given = {"query": event.resolved_query_string_parameters, "path": app.context.get("_route_args")}
            params = [p for p in getattr(dependant, f"{where}_params", []) if inside and p.alias == inside[0]]
            value = (given.get(where) or {}).get(inside[0]) if inside else None
            root_path, inside = tuple(inside[:1]), inside[1:]
        if not params:
            found.append(FieldError(".".join(str(p) for p in problem.get("loc", ())) or "body", "is not valid"))
            continue
        info = params[0].field_info
        root = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        found += native_problems.field_errors([{**problem, "loc": tuple(inside)}], root,
                                              value if value is not None else native_problems.MISSING, root_path)
    return list({e.field: e for e in found}.values())


def _not_json(event: dict[str, Any]) -> str | None:
    """Why the body is refused for its Content-Type, or None: left to Powertools, forms and
    multipart would be parsed (and a multipart without boundary is a 500)."""
    content_type = (event.get("headers") or {}).get("content-type") or ""
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    return refuses_media_type(method, content_type, bool(event.get("body")))


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
        self._rules: list[tuple[str, str]] = []  # (method, rule) of each route, for SnapStart's priming
        super().__init__(**options)
        self._observed = lambda_handler(self._refuse_or_resolve)
        prime_before_snapshot(self.resolve, self._priming_requests)

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        self._rules += [(m.upper(), rule) for m in ([method] if isinstance(method, str) else method)]
        return super().route(rule, method, *args, **kwargs)

    def _priming_requests(self) -> list[dict[str, Any]]:
        """A request of each route, as far as it goes without a body the route takes (a body is
        only checked: its models are built either way)."""
        return [api_request(method, re.sub(r"<\w+>", "priming", rule), "{}" if method in ("POST", "PUT", "PATCH") else None)
                for method, rule in self._rules]

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._observed(event, context)

    def _refuse_or_resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if principal_from_event(event) is None:
            return error_answer(401, "unauthenticated", "Missing or invalid API key")
        if len((event.get("body") or "").encode()) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            return error_answer(413, "too_large", f"The request body is larger than {MAX_BODY_BYTES // 1024} KB")
        if not_json := _not_json(event):
            return error_answer(415, "unsupported_media_type", not_json)
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
    app.exception_handler(RequestValidationError)(lambda error: _validation_response(app, error))
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


def no_content() -> Response:
    """204, the answer of a delete: done, nothing to say."""
    return Response(204, "application/json", "")


# -- what the records' routes share (their models' modules are each route's own) ----------------
def path_id(value: str, noun: str) -> int:
    """An integer id from the path; anything else names nothing (404, like a missing id)."""
    record_id = parse_whole(value, 10 ** 12 - 1)
    if record_id is None:
        raise NotFound(f"{noun} {value} not found")
    return record_id


def changes(model: BaseModel) -> dict[str, Any]:
    """The attributes a PATCH body sets (``null`` included: it clears)."""
    return model.model_dump(exclude_unset=True)


def id_page(records: Sequence[T], limit: int, cursor: str | None) -> tuple[list[T], str | None]:
    """Records with integer ids (an account has few lists, fields, templates), by id."""
    page = cursor_page(records, lambda r: [r.id], limit, after=cursor)
    return page.items, page.after_cursor if page.has_more else None
