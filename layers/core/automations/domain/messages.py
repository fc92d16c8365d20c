"""The engine's queue messages, one frozen dataclass each, and how long work goes on through them.

Each message travels as one JSON object (an SQS body, or a one-time schedule's input). The keys
are the wire format: a deploy runs the previous release beside this one for minutes, so every
shape either release writes is read by both, and each message keeps the keys it always had.
A body that is none of its queue's messages raises MalformedMessage: its record fails alone (and
after its retries lands in the queue's dead-letter queue) while the rest of the batch goes on.

Work too long for one invocation (a bucket's runs, a re-drive, an expansion, a re-plan, a fan-out)
is done a page at a time by ``in_pages``: while time is left; the rest, as its message, handed
on through the queue, and returned beside the result (``Continued``)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any, ClassVar, Self


class MalformedMessage(ValueError):
    """A message that is not what its queue carries."""


class QueueMessage:
    """A dataclass that travels as one JSON object, its fields by name (a message whose wire
    format leaves out some, or flags itself, says so in its own ``to_dict`` and ``from_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in body.items() if key in known})

    @classmethod
    def from_json(cls, text: str) -> Self:
        return _parsed(text, cls.from_dict)


def _parsed[M](text: str | dict[str, Any], parse: Callable[[dict[str, Any]], M]) -> M:
    """``parse`` of a body (JSON text, or a schedule's input as Lambda decoded it); MalformedMessage
    naming what is wrong when it is not JSON, not an object, or lacks or mistypes a field."""
    try:
        body = json.loads(text) if isinstance(text, str | bytes) else text
        if not isinstance(body, dict):
            raise TypeError(f"a JSON object expected, not {type(body).__name__}")
        return parse(body)
    except (ValueError, TypeError, KeyError) as error:
        what = getattr(parse, "__self__", None)
        raise MalformedMessage(f"not a {getattr(what, '__name__', 'queue message')}: {type(error).__name__}: {error}"
                               f" in {str(text)[:200]!r}") from error


@dataclass(frozen=True)
class Continued[T]:
    """What a bounded piece of long work did, and its rest (handed on already; None: all done)."""

    done: T
    rest: QueueMessage | None = None


def in_pages[M: QueueMessage, T: (int, list)](
        task: M, page: Callable[[M], tuple[T, M | None]], *, has_time: Callable[[], bool],
        hand_on: Callable[[M], None]) -> Continued[T]:
    """``page(task)`` (what it did, and the task of what is left, None at the end) again and again,
    at least once and then while ``has_time()``; the rest handed on. The one way long work goes on.
    What the pages did is added up (a count, or a list)."""
    done, task = page(task)
    while True:
        if task is None:
            return Continued(done)
        if not has_time():
            hand_on(task)
            return Continued(done, task)
        did, task = page(task)
        done += did


# -- the run queue, and the run executor's schedules --------------------------------------------
@dataclass(frozen=True)
class RunReference(QueueMessage):
    """A run to execute: its schedule's input, or queued (due now, a retry, a re-drive)."""

    account_id: str
    run_id: str
    redriven: bool = False  # queued by the hourly re-drive: it waited past its time

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "run_id": self.run_id, **({"redriven": True} if self.redriven else {})}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(str(body["account_id"]), str(body["run_id"]), body.get("redriven") is True)


@dataclass(frozen=True)
class BucketDispatch(QueueMessage):
    """A time bucket's runs to queue (service/time_buckets.py): those due in ``due_minute`` in
    DueIndex ``shard``, after ``after`` (from the first when None). Its schedule's input, and
    the rest of a bucket handed on."""

    due_minute: datetime
    shard: int
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"due_minute": self.due_minute.isoformat(), "shard": self.shard,
                **({"after": self.after} if self.after is not None else {})}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(datetime.fromisoformat(body["due_minute"]), int(body["shard"]), _optional_str(body.get("after")))


DONE = "done"  # a re-drive's position in a shard it read to the end


@dataclass(frozen=True)
class RedrivePass(QueueMessage):
    """The rest of an hourly re-drive: runs due before ``redrive_before`` still waiting, each
    DueIndex shard from its position in ``after`` (None: its start; DONE: read to the end)."""

    redrive_before: datetime
    after: tuple[str | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"redrive_before": self.redrive_before.isoformat(), "after": list(self.after)}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        if not isinstance(body["after"], list):
            raise TypeError("'after' is not a list of positions")
        return cls(datetime.fromisoformat(body["redrive_before"]), tuple(_optional_str(a) for a in body["after"]))


type RunQueueMessage = RunReference | BucketDispatch | RedrivePass


def run_queue_message(text: str | dict[str, Any]) -> RunQueueMessage:
    """What a run queue body (or a run executor's schedule input) is: told apart by its keys."""
    return _parsed(text, _run_queue_message)


def _run_queue_message(body: dict[str, Any]) -> RunQueueMessage:
    if "redrive_before" in body:
        return RedrivePass.from_dict(body)
    if "due_minute" in body:
        return BucketDispatch.from_dict(body)
    return RunReference.from_dict(body)


# -- the expand queue, and the rule expander's schedules ----------------------------------------
@dataclass(frozen=True)
class Expansion(QueueMessage):
    """A recurring or date-field rule's firing of ``day``: without a ``shard`` the firing itself
    (its schedule's input), else a shard of its source group's members from ``cursor``."""

    account_id: str
    automation_id: int
    day: date
    shard: int | None = None
    cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "automation_id": self.automation_id, "day": self.day.isoformat(),
                **({"shard": self.shard} if self.shard is not None else {}),
                **({"cursor": self.cursor} if self.cursor is not None and self.shard is not None else {})}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        shard = None if body.get("shard") is None else int(body["shard"])
        cursor = _optional_str(body.get("cursor")) if shard is not None else None  # without a shard: the firing, anew
        return cls(str(body["account_id"]), int(body["automation_id"]), date.fromisoformat(body["day"]), shard, cursor)


@dataclass(frozen=True)
class HourlyCheck(QueueMessage):
    """An account's hourly check (service/hourly_check.py), or the rest of its catch-up: the
    contact event log from ``since`` on, at ``cursor``."""

    FLAG: ClassVar[str] = "hourly_check"
    account_id: str
    since: str | None = None
    cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, self.FLAG: True, **({"since": self.since} if self.since else {}),
                **({"cursor": self.cursor} if self.cursor else {})}


@dataclass(frozen=True)
class RuleReplan(QueueMessage):
    """A page of a contact rule's waiting runs to re-plan (service/replanning.py): those of
    WaitingIndex ``shard``, after ``after``."""

    FLAG: ClassVar[str] = "replan"
    account_id: str
    automation_id: int
    shard: int
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "automation_id": self.automation_id, "shard": self.shard,
                self.FLAG: True, **({"after": self.after} if self.after is not None else {})}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(str(body["account_id"]), int(body["automation_id"]), int(body["shard"]),
                   _optional_str(body.get("after")))


@dataclass(frozen=True)
class ContactReplan(QueueMessage):
    """A contact's waiting runs to re-plan: its zone changed."""

    FLAG: ClassVar[str] = RuleReplan.FLAG
    account_id: str
    contact_uuid: str

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "contact_uuid": self.contact_uuid, self.FLAG: True}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(str(body["account_id"]), str(body["contact_uuid"]))


type ExpandQueueMessage = Expansion | HourlyCheck | RuleReplan | ContactReplan


def expand_queue_message(text: str | dict[str, Any]) -> ExpandQueueMessage:
    """What an expand queue body (or a rule expander's schedule input) is: told apart by its flags."""
    return _parsed(text, _expand_queue_message)


def _expand_queue_message(body: dict[str, Any]) -> ExpandQueueMessage:
    if body.get(HourlyCheck.FLAG):
        return HourlyCheck(str(body["account_id"]), _optional_str(body.get("since")), _optional_str(body.get("cursor")))
    if body.get(RuleReplan.FLAG):
        return ContactReplan.from_dict(body) if "contact_uuid" in body else RuleReplan.from_dict(body)
    return Expansion.from_dict(body)


# -- the ticket job queue -----------------------------------------------------------------------
@dataclass(frozen=True)
class TicketJob(QueueMessage):
    """A bulk ticket job to work (service/jobs.py), or to go on with."""

    account_id: str
    job_id: str

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(str(body["account_id"]), str(body["job_id"]))


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"a string expected, not {value!r}")
    return value

