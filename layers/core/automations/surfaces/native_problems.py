"""What the native API's models find wrong with a request, in the product's words: each problem
names the field (``actions.0.kind``, as the domain's own problems do), what was wrong and what is
allowed, never a library's phrasing. pydantic reports where and which rule failed; the model's
types say what the place takes, so the message is written from both."""
from __future__ import annotations

import enum
import json
import types
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from automations.errors import FieldError, ValidationFailed

MISSING = object()  # a place the request left out
_GIVEN_TEXT = 40  # longer text is described by its length, not echoed


class InvalidRequest(ValidationFailed):
    """A request the models refuse; its message names each field, as the details do."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.message = summary(errors)


def summary(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


@dataclass
class _Place:
    """One place in a request: the type it takes, its constraints, where it is and what was sent."""

    kind: Any
    path: list[str]
    value: Any = MISSING
    constraints: list[Any] = field(default_factory=list)
    description: str | None = None
    discriminator: str | None = None


def field_errors(problems: list[dict[str, Any]], root: Any, value: Any = MISSING,
                 root_path: tuple[str, ...] = ()) -> list[FieldError]:
    """``problems``: pydantic's errors (``loc`` relative to ``root``), ``root``: the type validated,
    ``value``: what was sent. One error per field, in pydantic's order."""
    answers: dict[str, str] = {}
    for problem in problems:
        found = _describe(problem, _place(root, list(root_path), value))
        if found is not None:
            where, message = found
            answers.setdefault(where, message)
    return [FieldError(where, message) for where, message in answers.items()]


def _describe(problem: dict[str, Any], place: _Place) -> tuple[str, str] | None:
    """(field, message) for one pydantic problem, or None when it belongs to a union member the
    sent value was not meant as."""
    kind = problem["type"]
    for part in problem.get("loc", ()):
        members = _members(place.kind)
        if len(members) > 1 and place.discriminator is None:
            model = next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)
                          and m.__name__ == part), None)
            if model is None:  # a member of text, numbers, lists...: one message for the union
                return _where(place), _wrong(place)
            if model is not _intended(members, place.value):
                return None
            place = _place(model, place.path, place.value)
            continue
        if place.discriminator is not None:
            member = _tagged(members, place.discriminator, part)
            if member is not None:
                place = _place(member, place.path, place.value)
                continue
        model = _model(place.kind)
        if model is not None:
            fields = _fields(model)
            if part not in fields:
                allowed = ", ".join(fields)
                return _where(place, str(part)), f"unknown attribute; allowed: {allowed}"
            info = fields[part]
            place = _place(info.annotation, [*place.path, str(part)], _item(place.value, part),
                           info.metadata, info.description, info.discriminator)
            continue
        item = _item_type(place.kind, part)
        place = _place(item, [*place.path, str(part)], _item(place.value, part))
    if kind == "missing":
        return _where(place), f"required, {_allowed(place)}"
    if kind in ("union_tag_not_found", "union_tag_invalid") and place.discriminator is not None:
        tags = ", ".join(_tags(_members(place.kind), place.discriminator))
        tag = _item(place.value, place.discriminator)
        where = _where(place, place.discriminator)
        return (where, f"required, one of {tags}") if tag is MISSING else (where, f"must be one of {tags}; got {_given(tag)}")
    return _where(place), _wrong(place)


def _wrong(place: _Place) -> str:
    return f"must be {_allowed(place)}; got {_given(place.value)}"


def _where(place: _Place, *more: str) -> str:
    return ".".join([*place.path, *more]) or "body"


# -- walking the types -----------------------------------------------------------------------------
def _place(kind: Any, path: list[str], value: Any, constraints: list[Any] | None = None,
           description: str | None = None, discriminator: Any = None) -> _Place:
    """The place with ``Annotated`` layers taken off and what they say kept."""
    place = _Place(kind, path, value, list(constraints or ()), description,
                   discriminator if isinstance(discriminator, str) else None)
    while get_origin(place.kind) is Annotated:
        place.kind, *extras = get_args(place.kind)
        for extra in extras:
            if isinstance(extra, FieldInfo):
                place.constraints += extra.metadata
                place.description = place.description or extra.description
                if isinstance(extra.discriminator, str):
                    place.discriminator = extra.discriminator
            else:
                place.constraints.append(extra)
    return place


def _members(kind: Any) -> list[Any]:
    """A union's members, ``None`` left out; [kind] for anything else."""
    if get_origin(kind) in (Union, types.UnionType):
        return [m for m in get_args(kind) if m is not type(None)]
    return [kind]


def _nullable(kind: Any) -> bool:
    return get_origin(kind) in (Union, types.UnionType) and type(None) in get_args(kind)


def _model(kind: Any) -> type[BaseModel] | None:
    members = _members(kind)
    only = members[0] if len(members) == 1 else None
    while get_origin(only) is Annotated:
        only = get_args(only)[0]
    return only if isinstance(only, type) and issubclass(only, BaseModel) else None


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the names a request uses (aliases: a window's ``from``)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _item_type(kind: Any, part: Any) -> Any:
    members = _members(kind)
    kind = members[0] if len(members) == 1 else kind
    while get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    arguments = get_args(kind)
    if get_origin(kind) is list and arguments:
        return arguments[0]
    if get_origin(kind) is dict and len(arguments) == 2:
        return arguments[1]
    return Any


def _tag_values(member: Any, discriminator: str) -> list[str]:
    place = _place(member, [], MISSING)
    model = _model(place.kind)
    info = _fields(model).get(discriminator) if model else None
    return [str(v) for v in get_args(info.annotation)] if info is not None else []


def _tags(members: list[Any], discriminator: str) -> list[str]:
    return [tag for member in members for tag in _tag_values(member, discriminator)]


def _tagged(members: list[Any], discriminator: str, tag: Any) -> Any:
    return next((m for m in members if str(tag) in _tag_values(m, discriminator)), None)


def _intended(members: list[Any], value: Any) -> Any:
    """Of a union of models, the one the sent object shares the most attributes with."""
    models = [m for m in members if _model(m) is not None]
    sent = set(value) if isinstance(value, dict) else set()
    return max(models, key=lambda m: len(sent & set(_fields(_model(m)))), default=None)


def _item(value: Any, part: Any) -> Any:
    if isinstance(value, dict):
        return value.get(part, MISSING)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return MISSING


# -- saying what a place takes and what it got -----------------------------------------------------
def _allowed(place: _Place) -> str:
    members = _members(place.kind)
    if len(members) > 1 and place.discriminator is not None:
        texts = [f"an object whose {place.discriminator} is one of {', '.join(_tags(members, place.discriminator))}"]
    else:
        texts = [_kind_text(m, place.constraints, place.description) for m in members]
    return _either(list(dict.fromkeys(texts + (["null"] if _nullable(place.kind) else []))))


def _kind_text(kind: Any, constraints: list[Any], description: str | None) -> str:
    if get_origin(kind) is Annotated:
        return _allowed(_place(kind, [], MISSING, constraints, description))
    limits = _limits(constraints)
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(kind))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in kind)
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number" + _range(limits, whole=True)
    if kind is float:
        return "a number" + _range(limits, whole=False)
    if kind is str:
        if limits.get("pattern"):
            return description or f"text matching {limits['pattern']}"
        return _text(limits)
    if kind in (datetime, AwareDatetime):
        return "a date and time in ISO 8601 with its offset (2026-03-01T09:00:00Z)"
    if _model(kind) is not None:
        required = [name for name, info in _fields(_model(kind)).items() if info.is_required()]
        return f"an object with {_either(required, 'and')}" if required else "an object"
    if get_origin(kind) is dict or kind is dict:
        return "an object"
    if get_origin(kind) is list or kind is list:
        item = _item_type(kind, 0)
        each = "" if item is Any else f", each {_allowed(_place(item, [], MISSING))}"
        return f"a list{_count(limits)}{each}"
    return "a JSON value"


def _limits(constraints: list[Any]) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for constraint in constraints:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            if getattr(constraint, name, None) is not None:
                limits[name] = getattr(constraint, name)
    return limits


def _range(limits: dict[str, Any], *, whole: bool) -> str:
    low = limits.get("ge", limits["gt"] + 1 if whole and "gt" in limits else None)
    high = limits.get("le", limits["lt"] - 1 if whole and "lt" in limits else None)
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of {low} or more"
    if high is not None:
        return f" of at most {high}"
    if not whole and ("gt" in limits or "lt" in limits):
        return "".join([f" above {limits['gt']}" if "gt" in limits else "",
                        f" below {limits['lt']}" if "lt" in limits else ""])
    return ""


def _text(limits: dict[str, Any]) -> str:
    low, high = limits.get("min_length"), limits.get("max_length")
    if low and high:
        return f"text of {low} to {high} characters"
    if high:
        return f"text of at most {high} characters"
    if low:
        return "text that is not empty" if low == 1 else f"text of at least {low} characters"
    return "text"


def _count(limits: dict[str, Any]) -> str:
    low, high = limits.get("min_length"), limits.get("max_length")
    if low and high:
        return f" of {low} to {high} items" if low != high else f" of exactly {low} {_plural(low, 'item')}"
    if high:
        return f" of at most {high} items"
    if low:
        return f" of at least {low} {_plural(low, 'item')}"
    return ""


def _either(texts: list[str], last: str = "or") -> str:
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} {last} {texts[-1]}"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"


def _given(value: Any) -> str:
    """What was sent, briefly: short values as JSON, long ones by their size."""
    if value is MISSING:
        return "nothing"
    if isinstance(value, str):
        return json.dumps(value) if len(value) <= _GIVEN_TEXT else f"text of {len(value):,} characters"
    if isinstance(value, list):
        return f"a list of {len(value)} {_plural(len(value), 'item')}" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    text = json.dumps(value)
    return text if len(text) <= _GIVEN_TEXT else f"a number of {len(text)} digits"
