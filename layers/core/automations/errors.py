"""Domain errors. Surfaces translate them into their own status codes and bodies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


def found(value: T | None, what: str) -> T:
    """``value``, or NotFound ("<what> not found") when there is none."""
    if value is None:
        raise NotFound(f"{what} not found")
    return value


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Conflict(DomainError):
    code = "conflict"


class Duplicate(Conflict):
    """A value unique within the account (a user's email or external id) is another record's:
    ``field`` names the attribute, ``value`` the value, ``noun`` what holds it."""

    def __init__(self, message: str, *, field: str, value: str, noun: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.noun = noun


class Busy(DomainError):
    """What the product depends on is throttling it, or an item it must change is contended, past
    every retry: the same request succeeds later. Transient: queue consumers retry the work, the
    surfaces answer 503 with Retry-After. ``retry_after``: how long to wait, when it is known."""

    code = "busy"

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutOfTime(Exception):
    """The invocation has too little time left to start this piece of work (a webhook's longest
    call, say): it goes on in another invocation. Neither a failure nor an attempt."""


class MalformedRequest(DomainError):
    """The request could not be read at all (bad JSON, missing envelope, bad parameter)."""

    code = "malformed"

    def __init__(self, message: str, *, kind: str = "malformed", parameter: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.parameter = parameter


class TooLarge(DomainError):
    code = "too_large"


class TooManyValues(DomainError):
    code = "too_many_values"


@dataclass(frozen=True)
class FieldError:
    field: str  # "base" when the problem is the record as a whole
    message: str
    code: str = "invalid"


class ValidationFailed(DomainError):
    code = "invalid"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


@dataclass
class Problems:
    """Collects field errors so a validator reports all of them at once."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, message: str, code: str = "invalid") -> None:
        self.errors.append(FieldError(field_name, message, code))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


# What AWS answers when it wants the caller to slow down: a throttle, or (DynamoDB) a conflict
# with another transaction on a hot item. Retrying later succeeds; it is a delay, never a failure.
THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "ThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException", "RequestThrottled",
    "TransactionConflict", "TransactionConflictException", "ThrottlingError", "ProvisionedThroughputExceeded",
})
# How much later queued work a throttle stopped goes on, as a new message rather than a redelivery
# (which would count toward the queue's receives and wait out its visibility timeout): time for
# the table's capacity to catch up.
THROTTLED_TASK_WAIT_S = 30
# What AWS answers when the same call may succeed later: throttling and outages.
TRANSIENT_CODES = THROTTLE_CODES | frozenset({
    "ServiceUnavailable", "ServiceUnavailableException", "InternalServerError", "InternalFailure", "InternalError",
    "InternalErrorException", "TransactionInProgressException", "RequestTimeout", "RequestTimeoutException",
})
# botocore's failures to reach a service at all (read by name: the core's services import no boto3)
_CONNECTION_FAILURES = frozenset({"ConnectionError", "HTTPClientError"})


def is_transient(error: BaseException) -> bool:
    """Whether retrying later may succeed (throttling, an outage, a lost connection), as opposed
    to a failure that the same input will meet again: a poison record, which must fail alone
    instead of being retried with everything around it."""
    if isinstance(error, (ConnectionError, TimeoutError, Busy)):
        return True
    if any(k.__module__.startswith("botocore") and k.__name__ in _CONNECTION_FAILURES for k in type(error).__mro__):
        return True
    return _answered(error, TRANSIENT_CODES)


def is_throttle(error: BaseException) -> bool:
    """Whether ``error`` asks the caller to slow down (a throttle, a contended item, Busy): work
    it stopped is delayed, and the delay is not counted as a failed attempt."""
    return isinstance(error, Busy) or _answered(error, THROTTLE_CODES)


def _answered(error: BaseException, codes: frozenset[str]) -> bool:
    """Whether AWS answered with one of ``codes`` (or cancelled a transaction for one)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    reasons = [r.get("Code") for r in response.get("CancellationReasons") or ()]
    return (response.get("Error") or {}).get("Code") in codes or any(r in codes for r in reasons)


def reason_of(error: BaseException, limit: int = 500) -> str:
    """An error as a failed record's reason: its type and message, bounded (a message can quote
    the whole poison value)."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= limit else text[:limit - 3] + "..."
