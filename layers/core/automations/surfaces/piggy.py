"""The Piggy-compatible surface (/api/v3/oauth/clients/automations...): Piggy's envelopes
(``{"data", "meta"}``), its error bodies (``{"message", "code", "status_code"}`` plus ``errors``
keyed by field, which is what the official SDK recognises) and its request encodings (the SDK
sends form-encoded bodies, ``data[key]=value``; JSON is accepted too).

Piggy shows event automations on one of its own events (domain/events.py); only those on
``contact_updated`` may be run through the API. A run request may carry an ``Idempotency-Key``
header: a retry with the same key (same account) creates no second run and gets the first answer
(Powertools idempotency, records in the product's table under the account)."""
from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timezone
from typing import Any
from urllib.parse import parse_qsl

from automations import config
from automations.adapters import aws
from automations.domain import events as names
from automations.domain.contacts import is_uuid
from automations.domain.model import Automation, Trigger
from automations.domain.run import MAX_DATA_BYTES, data_size
from automations.errors import DomainError, MalformedRequest, NotFound, TooLarge, Unauthenticated, ValidationFailed
from automations.inputs import is_storable_text
from automations.surfaces.http import MAX_BODY_BYTES, HttpRequest, endpoint as _endpoint, json_response

INVALID_INPUT = (1003, "Invalid input.")
CONTACT_NOT_FOUND = (55031, "Contact not found.")
MODEL_NOT_FOUND = (60013, "Model not found.")
UNAUTHENTICATED = (401, "Unauthenticated.")  # Piggy documents no code for it: the status stands in
UNKNOWN_ENDPOINT = (404, "Not found.")  # nor for this
KINDS = frozenset({Trigger.EVENT})
MAX_NESTING = 32  # brackets in one form field name (PHP stops at 64)
MAX_KEY_LENGTH = 255
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
IDEMPOTENCY_SECONDS = 24 * 3600  # how long a key answers retries


class PiggyError(DomainError):
    """An answer in Piggy's words: its code, message, HTTP status and per-field errors."""

    def __init__(self, code_and_message: tuple[int, str], *, status: int = 400,
                 errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(code_and_message[1])
        self.piggy_code = code_and_message[0]
        self.status = status
        self.errors = errors or {}


def invalid(field_name: str, message: str) -> PiggyError:
    return PiggyError(INVALID_INPUT, errors={field_name: [message]})


def _body(status: int, code: int, message: str, errors: dict[str, list[str]] | None = None,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": message, "code": code, "status_code": status}
    if errors:
        payload["errors"] = errors
    return json_response(status, payload, headers)


class PiggySurface:
    def error_response(self, error: DomainError) -> dict[str, Any]:
        if isinstance(error, PiggyError):
            return _body(error.status, error.piggy_code, error.message, error.errors)
        if isinstance(error, Unauthenticated):
            return _body(401, *UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        if isinstance(error, NotFound):
            return _body(400, *MODEL_NOT_FOUND)
        if isinstance(error, ValidationFailed):
            errors: dict[str, list[str]] = {}
            for problem in error.errors:
                errors.setdefault(problem.field, []).append(problem.message)
            return _body(400, *INVALID_INPUT, errors)
        # TooLarge, MalformedRequest: the body could not be read
        return _body(400, *INVALID_INPUT, {"body": [error.message]})

    def unexpected_error_response(self) -> dict[str, Any]:
        return _body(500, 500, "Something went wrong; please retry.")

    def unknown_endpoint_response(self) -> dict[str, Any]:
        return _body(404, *UNKNOWN_ENDPOINT)


SURFACE = PiggySurface()


def endpoint(fn):
    return _endpoint(SURFACE)(fn)


def envelope(data: Any) -> dict[str, Any]:
    return json_response(200, {"data": data, "meta": []})


# -- automations -----------------------------------------------------------------------------------
def is_piggy_automation(automation: Automation) -> bool:
    return automation.trigger in KINDS and names.is_piggy_event(automation.trigger_config.get("event"))


def _timestamp(when) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def automation_out(automation: Automation) -> dict[str, Any]:
    return {"uuid": automation.uuid, "event": automation.trigger_config["event"], "name": automation.title,
            "status": "active" if automation.active else "inactive",
            "created_at": _timestamp(automation.created_at), "updated_at": _timestamp(automation.updated_at)}


# -- request bodies --------------------------------------------------------------------------------
def _field_path(name: str) -> tuple[str, list[str]]:
    """``data[a][]`` -> ("data", ["a", ""]), as PHP reads field names. A name whose brackets do not
    close is taken whole."""
    base, bracket, rest = name.partition("[")
    if not bracket or not base:
        return name, []
    path = []
    rest = "[" + rest
    while rest.startswith("["):
        key, closed, rest = rest[1:].partition("]")
        if not closed:
            return name, []
        path.append(key)
    return base, path


def _as_lists(value: Any) -> Any:
    """Keys 0..n-1 in order make a list, as PHP's arrays become JSON."""
    if not isinstance(value, dict):
        return value
    items = {key: _as_lists(item) for key, item in value.items()}
    if items and list(items) == [str(i) for i in range(len(items))]:
        return list(items.values())
    return items


def decode_form(raw: bytes) -> dict[str, Any]:
    """An application/x-www-form-urlencoded body with PHP's nesting: ``data[key]=value``,
    ``data[a][b]=value``, ``data[]=value`` appends; a later value for a name replaces an earlier one."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedRequest("The request body is not valid form data (UTF-8 expected).") from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        if not (is_storable_text(name) and is_storable_text(value)):
            raise MalformedRequest("The request body contains a NUL character.")
        base, path = _field_path(name)
        if len(path) > MAX_NESTING:
            raise MalformedRequest(f"A field name nests more than {MAX_NESTING} levels.")
        holder, key = form, base
        for segment in path:
            if not isinstance(holder.get(key), dict):
                holder[key] = {}
            holder = holder[key]
            key = segment or str(sum(1 for k in holder if k.isdigit()))
        holder[key] = value
    return {key: _as_lists(value) for key, value in form.items()}


def read_body(request: HttpRequest) -> dict[str, Any]:
    """JSON or form-encoded (the SDK's choice), by Content-Type; without one, by the first byte."""
    if len(request.raw_body) > MAX_BODY_BYTES:
        raise TooLarge(f"The request body must not be larger than {MAX_BODY_BYTES // 1024} KB.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = content_type == "application/x-www-form-urlencoded" or (
        not content_type and request.raw_body.lstrip()[:1] not in (b"{", b"["))
    if is_form:
        return decode_form(request.raw_body)
    body = request.json(required=False)  # refuses any other Content-Type
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object.")
    return body


@dataclass(frozen=True)
class RunRequest:
    contact_uuid: str
    automation_uuid: str
    data: Any



def _uuid(body: dict[str, Any], name: str, errors: dict[str, list[str]]) -> str:
    value = body.get(name)
    if value is None or value == "":
        errors[name] = [f"The {name} field is required."]
    elif not isinstance(value, str) or not is_uuid(value.lower()):
        errors[name] = [f"The {name} must be a valid UUID."]
    else:
        return value.lower()
    return ""


def read_run_request(request: HttpRequest) -> RunRequest:
    body = read_body(request)
    errors: dict[str, list[str]] = {}
    contact_uuid = _uuid(body, "contact_uuid", errors)
    automation_uuid = _uuid(body, "automation_uuid", errors)
    data = body.get("data")
    if data is not None and not isinstance(data, (dict, list)):
        errors["data"] = ["The data must be an array."]
    elif data is not None and data_size(data) > MAX_DATA_BYTES:
        errors["data"] = [f"The data must not be larger than {MAX_DATA_BYTES // 1024} KB (as JSON)."]
    if errors:
        raise PiggyError(INVALID_INPUT, errors=errors)
    return RunRequest(contact_uuid, automation_uuid, data)


def runnable_automation(find: Callable[[], Automation]) -> Automation:
    """The automation a run request names: 60013 when it is not one of the account's Piggy
    automations, 1003 when it is not on ``contact_updated``."""
    try:
        automation = find()
    except NotFound:
        raise PiggyError(MODEL_NOT_FOUND) from None
    if not is_piggy_automation(automation):
        raise PiggyError(MODEL_NOT_FOUND)
    if automation.trigger_config.get("event") != names.RUNNABLE_PIGGY_EVENT:
        raise invalid("automation_uuid", f"Only an Automation with the '{names.RUNNABLE_PIGGY_EVENT}' event can be "
                                         f"run; this one's event is '{automation.trigger_config.get('event')}'.")
    return automation


# -- Idempotency-Key -------------------------------------------------------------------------------
def idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not (len(key) <= MAX_KEY_LENGTH and _PRINTABLE.fullmatch(key)):
        raise invalid("Idempotency-Key", f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable "
                                         "characters without spaces.")
    return key


def occurrence(request: HttpRequest, key: str | None) -> str:
    """What names the run: the key, so a retry lands on the same run even when the idempotency
    record was never written (a crash in between); without one, this request."""
    if key is not None:
        return "piggy:key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return "piggy:request:" + (request.request_id or str(uuid.uuid4()))  # API Gateway always gives an id


@functools.cache
def _idempotency_config():
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="request",
                             raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS)


def register_lambda_context(context: Any) -> None:
    """Lets an interrupted attempt's record expire with the Lambda's time, not the key's."""
    if context is not None:
        _idempotency_config().register_lambda_context(context)


def once_per_key(account_id: str, key: str | None, run: RunRequest, answer: Callable[[], dict[str, Any]]
                 ) -> dict[str, Any]:
    """``answer()`` once per (account, key); retries get the stored answer. The same key with
    another request is refused, as is a retry while the first attempt is still running."""
    if key is None:
        return answer()
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError, IdempotencyValidationError,
    )

    # Records live in the account's own partition of the product's table (its TTL expires them).
    store = DynamoDBPersistenceLayer(table_name=config.table_name(), key_attr="PK", sort_key_attr="SK",
                                     static_pk_value=f"IDEMPOTENCY#{account_id}", expiry_attr="expires_at",
                                     boto3_client=aws.client("dynamodb"))

    @idempotent_function(data_keyword_argument="attempt", persistence_store=store, config=_idempotency_config(),
                         key_prefix="piggy_run")
    def run_once(attempt: dict[str, Any]) -> dict[str, Any]:
        return answer()

    try:
        return run_once(attempt={"key": key, "request": asdict(run)})
    except IdempotencyValidationError:
        raise invalid("Idempotency-Key", "This Idempotency-Key was used with a different request.") from None
    except IdempotencyAlreadyInProgressError:
        raise PiggyError((409, "A request with this Idempotency-Key is still in progress; retry shortly."),
                         status=409) from None


# -- POST /api/v3/oauth/clients/automations/runs ---------------------------------------------------
def create_run(request: HttpRequest, *, find: Callable[[str, str], Automation],
               start: Callable[..., Any]) -> dict[str, Any]:
    """A run of the contact_updated automation the request names, for its contact, with its data;
    once per ``Idempotency-Key``. ``find(account_id, uuid)`` is the account's Piggy automation by
    uuid (NotFound otherwise); ``start`` the run engine's start_manual (NotFound: the contact)."""
    run = read_run_request(request)
    key = idempotency_key(request)
    account_id = request.account_id

    def started() -> dict[str, Any]:
        automation = runnable_automation(lambda: find(account_id, run.automation_uuid))
        try:
            start(account_id, automation, run.contact_uuid, data=run.data, occurrence=occurrence(request, key))
        except NotFound:
            raise PiggyError(CONTACT_NOT_FOUND) from None
        return envelope([])

    return once_per_key(account_id, key, run, started)
