"""Every native (/v1) operation answers a wrong body or parameter in the product's words: each
problem names its field as the request spells it, says what was wrong and what is allowed, and no
library's phrasing (pydantic's "Field required", "Unable to extract tag using discriminator"...)
leaks. The wrong values are made by walking each route's own body model and query parameters."""
from __future__ import annotations

import functools
import json
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from support import authorized, http_event, invoke, load_handler, load_module, repo_template

WRONG = [None, True, -1, 2.5, "", "x" * 300, "no such thing", [], [7, 8], {}, {"unexpected": 1}]
JARGON = re.compile(r"Field required|Extra inputs|Input should|Unable to extract|discriminator|String should|"
                    r"Value error|valid (integer|string|list|dict|number|boolean)|literal\[|union\[|Input tag|"
                    r"model_attributes|pydantic|PydanticUndefined|type=|\bNone\b|\bTrue\b|\bFalse\b")
MODEL_MESSAGE = re.compile(r"^(required, |must be |unknown attribute; allowed: )")
DEPTH = 4


def native_routes() -> list[tuple[str, str, str]]:
    template = repo_template()
    return sorted({(r.method, r.path, template.functions[r.function_id].code_dir.name) for r in template.routes
                   if r.path.startswith("/v1/") and not r.path.endswith("+}")})


@functools.cache
def dependant(function_dir: str, method: str, path: str):
    app = load_module(function_dir).app
    (route,) = [r for r in app._static_routes + app._dynamic_routes
                if r.method.upper() == method and r.openapi_path == path]
    return route.dependant


# -- wrong values, from the types ----------------------------------------------------------------
def unwrap(kind: Any) -> tuple[Any, str | None]:
    discriminator = None
    while get_origin(kind) is Annotated:
        kind, *extras = get_args(kind)
        discriminator = next((e.discriminator for e in extras if isinstance(e, FieldInfo)
                              and isinstance(e.discriminator, str)), discriminator)
    return kind, discriminator


def members(kind: Any) -> list[Any]:
    return [m for m in get_args(kind) if m is not type(None)] if get_origin(kind) in (Union, types.UnionType) \
        else [kind]


def names(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def wrong_values(kind: Any, depth: int = 0) -> list[Any]:
    """Values a place of this type refuses (and some it may take), nested places included."""
    kind, discriminator = unwrap(kind)
    found = list(WRONG)
    if depth >= DEPTH:
        return found
    options = members(kind)
    if discriminator:
        found += [{discriminator: "no_such_kind"}, {"not_" + discriminator: 1}]
        for member in options:
            member, _ = unwrap(member)
            for tag in get_args(names(member)[discriminator].annotation):
                found += [{discriminator: tag, **body} for body in wrong_values(member, depth + 1)
                          if isinstance(body, dict) and discriminator not in body]
        return found
    for member in options:
        member, _ = unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            found.append({"unexpected_attribute": 1})
            for name, info in names(member).items():
                found += [{name: value} for value in wrong_values(Annotated[info.annotation, info], depth + 1)]
        elif get_origin(member) is list:
            found += [[value] for value in wrong_values(get_args(member)[0], depth + 1)]
    return list({json.dumps(value, sort_keys=True): value for value in found}.values())


def known_names() -> tuple[set[str], set[str]]:
    """Every attribute name a native model has and every query parameter's; and the attributes
    holding objects of any keys (custom_fields, data...), whose keys a field name may go on with."""
    known, open_ended = {"body", "base"}, set()
    pending, seen = [], set()
    for method, path, function_dir in native_routes():
        deps = dependant(function_dir, method, path)
        known |= {p.alias for p in deps.query_params + deps.path_params}
        pending += [p.field_info.annotation for p in deps.body_params]
    while pending:
        kind, _ = unwrap(pending.pop())
        for member in members(kind):
            member, _ = unwrap(member)
            if repr(member) in seen:
                continue
            seen.add(repr(member))
            if isinstance(member, type) and issubclass(member, BaseModel):
                for name, info in names(member).items():
                    known.add(name)
                    if get_origin(unwrap(info.annotation)[0]) is dict or any(
                            get_origin(unwrap(m)[0]) is dict for m in members(unwrap(info.annotation)[0])):
                        open_ended.add(name)
                    pending.append(info.annotation)
            else:
                pending += list(get_args(member))
    return known, open_ended


def call(handler, event) -> tuple[int, Any]:
    response = handler(authorized(event), None)
    return response["statusCode"], json.loads(response.get("body") or "null")


# -- the checks -----------------------------------------------------------------------------------
def check_answer(status: int, answer: Any, sent: Any, known: tuple[set[str], set[str]]) -> None:
    assert status < 500, (sent, answer)
    if status != 422:
        return
    error = answer["error"]
    assert error["code"] == "invalid" and error["details"], (sent, answer)
    assert not JARGON.search(error["message"]), (sent, error["message"])
    for detail in error["details"]:
        assert not JARGON.search(detail["message"]), (sent, detail)
        parts = detail["field"].split(".")
        if detail["message"].startswith("unknown attribute"):
            parts = parts[:-1]  # the attribute sent
        names, open_ended = known
        if opened := [i for i, part in enumerate(parts) if part in open_ended]:
            parts = parts[:opened[0] + 1]  # then the keys sent
        assert all(part.isdigit() or part in names for part in parts), (sent, detail)  # no union member names
    if all(MODEL_MESSAGE.match(d["message"]) for d in error["details"]):  # the models', not the domain's
        assert error["message"] == "; ".join(f"{d['field']}: {d['message']}" for d in error["details"]), answer


@pytest.fixture(scope="module")
def known():
    return known_names()


def test_wrong_bodies_are_answered_in_the_products_words(account, known):
    """One test for every route (one mocked AWS set up, not one per route); a failure names the route."""
    routes = [(m, p, d) for m, p, d in native_routes() if dependant(d, m, p).body_params]
    assert len(routes) > 20
    for method, path, function_dir in routes:
        (body_param,) = dependant(function_dir, method, path).body_params
        handler = load_handler(function_dir)
        path_params = {name: "1" for name in re.findall(r"{(\w+)}", path)}
        for body in wrong_values(body_param.field_info.annotation):
            event = http_event(method, path.format(**path_params), route=path, path_params=path_params or None,
                               raw_body=json.dumps(body), authorization=account[2])
            check_answer(*call(handler, event), (method, path, body), known)


def test_wrong_query_parameters_are_answered_in_the_products_words(account, known):
    routes = [(m, p, d) for m, p, d in native_routes() if dependant(d, m, p).query_params]
    assert len(routes) > 10
    for method, path, function_dir in routes:
        path_params = {name: "1" for name in re.findall(r"{(\w+)}", path)}
        handler = load_handler(function_dir)
        for parameter in dependant(function_dir, method, path).query_params:
            for value in ["", "abc", "-1", "0", "101", "2.5", "x" * 3000, "true"]:
                event = http_event(method, path.format(**path_params), route=path, path_params=path_params or None,
                                   query={parameter.alias: value}, authorization=account[2])
                check_answer(*call(handler, event), (method, path, {parameter.alias: value}), known)


@pytest.mark.parametrize("body, field, message", [
    ({"trigger": "event", "title": "t", "trigger_config": {"event": "shop.paid"},
      "actions": [{"type": "send_email", "template_id": 1}]},
     "actions.0.kind", "required, one of send_email, send_text, start_series, cancel_email, cancel_text, "
                       "cancel_series, set_custom_field, webhook, emit_event"),
    ({"trigger": "event", "title": "t", "trigger_config": {"event": "shop.paid"},
      "actions": [{"kind": "send_email", "template_id": 1, "type": "x"}]},
     "actions.0.type", "unknown attribute; allowed: kind, template_id"),
    ({"title": "t"}, "trigger", "required, one of sweep, list_joined, community_joined, recurring, date_field, "
                                "event, manual"),
    ({"trigger": "when", "title": "t"}, "trigger", 'must be one of sweep, list_joined, community_joined, recurring, '
                                                   'date_field, event, manual; got "when"'),
    ({"trigger": "manual", "title": "t", "actions": [{"kind": "send_email", "template_id": "abc"}]},
     "actions.0.template_id", 'must be a whole number from 1 to 9007199254740991; got "abc"'),
    ({"trigger": "manual", "title": "t", "actions": [{"kind": "send_email", "template_id": 1}],
      "trigger_config": {"window": {"from": "9", "to": "17:00"}}},
     "trigger_config.window.from", 'must be a wall-clock time "HH:MM" (24 hours); got "9"'),
    ({"trigger": "sweep", "title": "t", "conditions": {"all": [{"field": "status", "operator": "is",
                                                               "value": [1]}]}, "actions": [{"field": "x", "value": 1}]},
     "conditions.all.0.value", "must be text, a whole number or null; got a list of 1 item"),
])
def test_what_a_new_user_gets_wrong_creating_an_automation(account, body, field, message):
    status, _, answer = invoke("automations_create", http_event("POST", "/v1/automations", body=body,
                                                                authorization=account[2]))
    assert status == 422, answer
    assert {"field": field, "message": message} in answer["error"]["details"], answer
    assert f"{field}: {message}" in answer["error"]["message"]


def test_a_template_with_a_misspelt_attribute(account):
    status, _, answer = invoke("templates_create", http_event("POST", "/v1/templates", body={
        "name": "Welcome", "type": "email", "subject": "Hi", "text": "Hello"}, authorization=account[2]))
    assert status == 422
    assert answer["error"]["details"] == [
        {"field": "title", "message": "required, text of 1 to 200 characters"},
        {"field": "name", "message": "unknown attribute; allowed: title, type, subject, html, text, body, steps"}]


def test_an_event_or_a_batch_of_them(account):
    """A body that may be one event or a batch is read as the one it looks like."""
    for body, expected in [({"event": "shop.paid"}, [{"field": "contact_uuid", "message": "required, text"}]),
                           ({"events": [{"event": "shop.paid"}]},
                            [{"field": "events.0.contact_uuid", "message": "required, text"}]),
                           ({"event": "shop.paid", "contact_uuid": "c", "occurred_at": 0},  # not Unix time
                            [{"field": "occurred_at", "message": "must be a date and time in ISO 8601 with its offset "
                                                                 "(2026-03-01T09:00:00Z) or null; got 0"}])]:
        status, _, answer = invoke("events_create", http_event("POST", "/v1/events", body=body, authorization=account[2]))
        assert (status, answer["error"]["details"]) == (422, expected), answer
