"""Hostile input on every surface (issue 11): deep nesting, huge numbers, odd digits, surrogates,
NUL characters, oversized bodies and data, wrong content types, duplicate keys, path tricks and
repeated query parameters. Each case answers in its surface's own error format, never a 5xx,
and stores nothing (the whole table is compared before and after)."""
import base64
import json

import pytest
from support import basic_auth, http_event, invoke

RUNS = "/api/v3/oauth/clients/automations/runs"
DEEP = "[" * 100_000
TOO_DEEP = "[" * 65 + "]" * 65  # valid JSON, one level more than any surface takes
# Raw JSON values put where a surface takes any value (or any text).
HOSTILE_VALUES = {
    "deep nesting": DEEP,
    "nesting over the bound": TOO_DEEP,
    "lone surrogate": '"subject \\ud83d"',
    "NUL character": '"a\\u0000b"',
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "1e308": "1e308",
    "overflowing float": "1e400",
    "10**40": "1" + "0" * 40,
    "5,000 digits": "1" * 5000,
}


def table_items():
    """Every item of the product's table, to show a refused request changed nothing."""
    import boto3
    from automations import config

    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=config.table_name())
    return sorted((json.dumps(item, sort_keys=True) for page in pages for item in page["Items"]))


# -- the surfaces' own error formats ---------------------------------------------------------------
def zendesk_error(status, body):
    assert 400 <= status < 500 and isinstance(body["error"], str) and isinstance(body["description"], str), body


def vipecloud_error(status, body):
    assert 400 <= status < 500 and body["status"] == "error" and isinstance(body["message"], str), body


def piggy_error(status, body):
    assert 400 <= status < 500 and isinstance(body["message"], str) and isinstance(body["code"], int), body
    assert body["status_code"] == status, body


def native_error(status, body):
    assert 400 <= status < 500 and set(body["error"]) == {"code", "message", "details"}, body


@pytest.fixture
def world(account):
    """One account with what every surface's valid body points at, and its credentials."""
    acct, key, zendesk_auth = account

    def make(function, path, body):
        status, _, made = invoke(function, http_event("POST", path, body=body, authorization=zendesk_auth))
        assert status == 201, made
        return made

    template = make("templates_create", "/v1/templates", {"title": "Mail", "type": "email", "subject": "Hi",
                                                          "text": "Code {{ data.code }}"})
    automation = make("automations_create", "/v1/automations", {
        "title": "On update", "trigger": "event", "trigger_config": {"event": "contact_updated"},
        "conditions": {"all": [], "any": []}, "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    return {"zendesk": zendesk_auth, "vipecloud": basic_auth(acct.email, key, token_style=False),
            "piggy": f"Bearer {key}", "native": zendesk_auth, "template": template["id"],
            "automation_uuid": automation["uuid"],
            "list": make("contact_lists_create", "/v1/contact-lists", {"name": "Newsletter"})["id"],
            "contact": make("contacts_create", "/v1/contacts", {"email": "ada@example.com"})["uuid"]}


# Body endpoints: (surface, function, method, path, route, path params, body with a slot <V> where
# the hostile value goes, a place that takes any value or any text).
BODY_ENDPOINTS = {
    "zendesk create": ("zendesk", "zendesk_create_automation", "POST", "/api/v2/automations.json", None, None,
                       '{"automation": {"title": <V>, "all": [{"field": "status", "operator": "is", "value": "open"},'
                       ' {"field": "OPEN", "operator": "greater_than", "value": "24"}],'
                       ' "actions": [{"field": "priority", "value": "high"}]}}'),
    "zendesk update": ("zendesk", "zendesk_update_automation", "PUT", "/api/v2/automations/1.json",
                       "/api/v2/automations/{id}", {"id": "1.json"}, '{"automation": {"title": <V>}}'),
    "zendesk ticket": ("zendesk", "zendesk_create_ticket", "POST", "/api/v2/tickets.json", None, None,
                       '{"ticket": {"subject": "Help", "comment": {"body": "b"}, "requester_id": 1,'
                       ' "custom_fields": [{"id": 7, "value": <V>}]}}'),
    "vipecloud create": ("vipecloud", "vipecloud_create_automation", "POST", "/automations", None, None,
                         '{"contact_list_id": {list}, "template_type": "email", "template_id": {template},'
                         ' "trigger_type": "contact", "note": <V>}'),
    "piggy run": ("piggy", "piggy_runs_create", "POST", RUNS, None, None,
                  '{"contact_uuid": "{contact}", "automation_uuid": "{automation_uuid}", "data": {"code": <V>}}'),
    "native contact": ("native", "contacts_create", "POST", "/v1/contacts", None, None,
                       '{"email": "grace@example.com", "first_name": <V>}'),
}
CHECKS = {"zendesk": zendesk_error, "vipecloud": vipecloud_error, "piggy": piggy_error, "native": native_error}


def send(world, surface, function, method, path, route, params, raw_body=None, *, query=None, headers=None):
    event = http_event(method, path, route=route, path_params=params, query=query, raw_body=raw_body,
                       authorization=world[surface])
    event["headers"].update(headers or {})
    return invoke(function, event)


def body_for(world, template, value):
    for name in ("list", "template", "contact", "automation_uuid"):
        template = template.replace("{" + name + "}", str(world[name]))
    return template.replace("<V>", value)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_valid_body_is_stored(world, endpoint):
    """The bodies below differ from these only by their hostile part."""
    surface, function, method, path, route, params, template = BODY_ENDPOINTS[endpoint]
    before = table_items()
    status, _, answer = send(world, surface, function, method, path, route, params,
                             body_for(world, template, '"Fine 12"'))
    assert status in (200, 201), answer
    assert table_items() != before


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_hostile_values_are_refused(world, endpoint, value):
    surface, function, method, path, route, params, template = BODY_ENDPOINTS[endpoint]
    before = table_items()
    status, _, answer = send(world, surface, function, method, path, route, params,
                             body_for(world, template, HOSTILE_VALUES[value]))
    CHECKS[surface](status, answer)
    assert table_items() == before


@pytest.mark.parametrize("case", ["duplicate key", "oversized", "text/plain", "multipart", "whole body too deep"])
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_hostile_bodies_are_refused(world, endpoint, case):
    surface, function, method, path, route, params, template = BODY_ENDPOINTS[endpoint]
    body, headers = body_for(world, template, '"Fine"'), {}
    if case == "duplicate key":
        first_key = body[1:].split(":", 1)[0]  # the later one would win, and the body would be valid
        body = "{" + first_key + ": null, " + body[1:]
    elif case == "oversized":
        body = body[:-1] + ', "padding": "' + "x" * (1024 * 1024) + '"}'
    elif case == "whole body too deep":
        body = '{"a": ' * 100_000
    else:
        headers["content-type"] = {"text/plain": "text/plain", "multipart": "multipart/form-data; boundary=x"}[case]
    before = table_items()
    status, _, answer = send(world, surface, function, method, path, route, params, body, headers=headers)
    CHECKS[surface](status, answer)
    assert table_items() == before


def test_piggy_data_over_the_item_limit_is_refused_with_1003(world):
    body = json.dumps({"contact_uuid": world["contact"], "automation_uuid": world["automation_uuid"],
                       "data": {f"key{i}": "v" * 12 for i in range(25_000)}})  # under 1 MB, over 200 KB
    before = table_items()
    status, _, answer = send(world, "piggy", "piggy_runs_create", "POST", RUNS, None, None, body)
    assert (status, answer["code"], answer["message"]) == (400, 1003, "Invalid input.")
    assert "200 KB" in answer["errors"]["data"][0]
    assert table_items() == before


def test_piggy_form_with_a_nul_character_is_refused(world):
    form = f"contact_uuid={world['contact']}&automation_uuid={world['automation_uuid']}&data[code]=a%00b"
    before = table_items()
    status, _, answer = send(world, "piggy", "piggy_runs_create", "POST", RUNS, None, None, form,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    piggy_error(status, answer)
    assert table_items() == before


# -- ids, paging and query parameters -------------------------------------------------------------
ODD_IDS = ["\u0661", "\u00b9", "0" * 16 + "1", "1" * 5000, "1.json.json", " 1", "+1", "-1", "1e0"]  # with a NUL: refused as any parameter is, below


@pytest.mark.parametrize("raw_id", ODD_IDS)
@pytest.mark.parametrize("function, method, body", [
    ("zendesk_show_automation", "GET", None),
    ("zendesk_update_automation", "PUT", '{"automation": {"title": "Renamed"}}'),
    ("zendesk_delete_automation", "DELETE", None),
])
def test_zendesk_odd_ids_name_no_record(world, raw_id, function, method, body):
    """/api/v2/automations/%D9%A1 is not automation 1 (the default one, which exists)."""
    before = table_items()
    status, _, answer = send(world, "zendesk", function, method, f"/api/v2/automations/{raw_id}",
                             "/api/v2/automations/{id}", {"id": raw_id}, body)
    assert (status, answer) == (404, {"error": "RecordNotFound", "description": "Not found"})
    assert table_items() == before


@pytest.mark.parametrize("raw_id", ODD_IDS)
def test_vipecloud_and_native_odd_ids_name_no_record(world, raw_id):
    status, _, answer = send(world, "vipecloud", "vipecloud_get_automation", "GET", f"/automations/{raw_id}",
                             "/automations/{id}", {"id": raw_id})
    assert (status, answer["message"]) == (422, "Automation not found.")
    status, _, answer = send(world, "native", "automations_get", "GET", f"/v1/automations/{raw_id}",
                             "/v1/automations/{automation_id}", {"automation_id": raw_id})
    assert (status, answer["error"]["code"]) == (404, "not_found")
    status, _, answer = send(world, "native", "contact_lists_get", "GET", f"/v1/contact-lists/{raw_id}",
                             "/v1/contact-lists/{list_id}", {"list_id": raw_id})
    assert (status, answer["error"]["code"]) == (404, "not_found")


def _cursor(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("query", [
    {"page": "\u00b2"}, {"page": "\u0661"}, {"per_page": "1" * 5000}, {"page": "1,2"}, {"per_page": "0"},
    {"page[size]": "\u0665"}, {"page[size]": "9" * 5000}, {"page[after]": _cursor(DEEP)},
    {"page[before]": _cursor('["a","a"' + ',1' * 10 + "]" * 2)}, {"page[after]": _cursor('"\\ud83d"')},
])
@pytest.mark.parametrize("function, path", [("zendesk_list_automations", "/api/v2/automations.json"),
                                            ("zendesk_list_tickets", "/api/v2/tickets.json"),
                                            ("zendesk_list_users", "/api/v2/users.json")])
def test_zendesk_odd_paging_parameters_are_400(world, query, function, path):
    status, _, answer = send(world, "zendesk", function, "GET", path, None, None, query=query)
    assert status == 400, answer
    zendesk_error(status, answer)


def test_zendesk_a_repeated_sort_parameter_is_400(world):
    """API Gateway joins a repeated query parameter with commas."""
    status, _, answer = send(world, "zendesk", "zendesk_list_automations", "GET", "/api/v2/automations.json", None,
                             None, query={"sort_by": "position,alphabetical"})
    assert status == 400
    zendesk_error(status, answer)


@pytest.mark.parametrize("ids", ["\u0661,2", "1," + "1" * 5000, "\u00b9", "1,-2"])
def test_zendesk_destroy_many_with_odd_ids_deletes_nothing(world, ids):
    before = table_items()
    status, _, answer = send(world, "zendesk", "zendesk_destroy_many_automations", "DELETE",
                             "/api/v2/automations/destroy_many.json", None, None, query={"ids": ids})
    assert (status, answer["error"]) == (400, "InvalidValue")
    assert table_items() == before


@pytest.mark.parametrize("cursor", [_cursor(DEEP), _cursor("[" * 100), "\u0661", "%00"])
def test_native_odd_cursors_are_refused(world, cursor):
    status, _, answer = send(world, "native", "contacts_list", "GET", "/v1/contacts", None, None,
                             query={"cursor": cursor})
    native_error(status, answer)


# -- values the domain or DynamoDB cannot hold ---------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {"position": 2 ** 70}, {"position": 2 ** 31},
    {"all": [{"field": "status", "operator": "is", "value": "open"},
             {"field": "OPEN", "operator": "greater_than", "value": str(2 ** 70)}]},
    {"all": [{"field": "status", "operator": "is", "value": "open"},
             {"field": "OPEN", "operator": "greater_than", "value": "\u0661\u0662"}]},
    {"actions": [{"field": "notification_user", "value": ["1" * 5000, "Subject", "Body"]}]},
    {"actions": [{"field": "notification_group", "value": ["\u0661", "Subject", "Body"]}]},
])
def test_zendesk_numbers_out_of_bounds_are_record_invalid(world, overrides):
    rule = {"title": "Bounded", "all": [{"field": "status", "operator": "is", "value": "open"},
                                        {"field": "OPEN", "operator": "greater_than", "value": "24"}],
            "actions": [{"field": "priority", "value": "high"}], **overrides}
    before = table_items()
    status, _, answer = send(world, "zendesk", "zendesk_create_automation", "POST", "/api/v2/automations.json",
                             None, None, json.dumps({"automation": rule}))
    assert (status, answer["error"]) == (422, "RecordInvalid"), answer
    assert table_items() == before


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e308", "-1e200", "9" * 400])
def test_number_custom_field_values_dynamodb_cannot_hold_are_refused(world, value):
    status, _, field = send(world, "native", "custom_fields_create", "POST", "/v1/custom-fields", None, None,
                            json.dumps({"name": "Score", "scope": "contact", "type": "number"}))
    assert status == 201
    before = table_items()
    status, _, answer = send(world, "native", "contacts_create", "POST", "/v1/contacts", None, None,
                             json.dumps({"email": "n@example.com", "custom_fields": {str(field["id"]): value}}))
    assert (status, answer["error"]["code"]) == (422, "invalid"), answer
    assert table_items() == before


def test_native_position_over_the_documented_bound_is_refused(world):
    before = table_items()
    status, _, answer = send(world, "native", "automations_create", "POST", "/v1/automations", None, None, json.dumps({
        "title": "Big", "trigger": "sweep", "position": 2 ** 70,
        "conditions": {"all": [{"field": "status", "operator": "is", "value": "open"},
                               {"field": "OPEN", "operator": "greater_than", "value": "24"}], "any": []},
        "actions": [{"field": "priority", "value": "high"}]}))
    assert (status, answer["error"]["code"]) == (422, "invalid")
    assert table_items() == before


# -- text in query strings and paths ---------------------------------------------------------------
UNSTORABLE_TEXTS = {"NUL character": "a\u0000b", "lone surrogate": "subject \ud83d"}
# (surface, function, path, route, path params, query) with a slot <T> for the hostile text.
TEXT_PARAMETERS = {
    "zendesk search": ("zendesk", "zendesk_search_automations", "/api/v2/automations/search.json", None, None,
                       {"query": "<T>"}),
    "zendesk user search": ("zendesk", "zendesk_search_users", "/api/v2/users/search.json", None, None,
                            {"query": "<T>"}),
    "zendesk sort": ("zendesk", "zendesk_list_automations", "/api/v2/automations.json", None, None,
                     {"sort_by": "<T>"}),
    "vipecloud id": ("vipecloud", "vipecloud_get_automation", "/automations/<T>", "/automations/{id}",
                     {"id": "<T>"}, None),
    "native contact": ("native", "contacts_get", "/v1/contacts/<T>", "/v1/contacts/{contact_uuid}",
                       {"contact_uuid": "<T>"}, None),
    "native cursor": ("native", "contacts_list", "/v1/contacts", None, None, {"cursor": "<T>"}),
}


def _with_text(value, text):
    return {k: v.replace("<T>", text) for k, v in value.items()} if value else value


@pytest.mark.parametrize("text", UNSTORABLE_TEXTS)
@pytest.mark.parametrize("parameter", TEXT_PARAMETERS)
def test_unstorable_text_in_a_query_or_path_is_refused(world, parameter, text):
    """A NUL or an unpaired surrogate cannot be put in a key, a log line or an email: a 400 in
    the surface's format, whichever parameter carries it."""
    surface, function, path, route, params, query = TEXT_PARAMETERS[parameter]
    hostile = UNSTORABLE_TEXTS[text]
    before = table_items()
    status, _, answer = send(world, surface, function, "GET", path.replace("<T>", hostile), route,
                             _with_text(params, hostile), query=_with_text(query, hostile))
    CHECKS[surface](status, answer)
    assert table_items() == before
