"""The native /v1/automations handlers: every kind of automation through one API, the same ids
on the Zendesk and VipeCloud surfaces in both directions, dry runs, and every bad input answered
in the native error format."""
import json
from zoneinfo import ZoneInfo

import pytest
from native_answers import error_code
from support import basic_auth, http_event, invoke, sample_event

from automations import clock

ROUTES = {
    "automations_create": ("POST", "/v1/automations"), "automations_list": ("GET", "/v1/automations"),
    "automations_get": ("GET", "/v1/automations/{automation_id}"),
    "automations_update": ("PATCH", "/v1/automations/{automation_id}"),
    "automations_delete": ("DELETE", "/v1/automations/{automation_id}"),
    "automations_test": ("POST", "/v1/automations/{automation_id}/test"),
}


@pytest.fixture
def api(account):
    """``call(function, ref=None, body=..., query=..., raw=..., auth=...)`` for the automations
    handlers and ``make(function, path, body)`` for the records they point at."""
    auth = account[2]

    def call(function, ref=None, *, body=None, query=None, raw=None, authorization=auth):
        method, route = ROUTES[function]
        path = route.replace("{automation_id}", str(ref))
        params = {"automation_id": str(ref)} if ref is not None else None
        return invoke(function, http_event(method, path, route=route, path_params=params, query=query, body=body,
                                           raw_body=raw, authorization=authorization))

    def make(function, path, body):
        status, _, made = invoke(function, http_event("POST", path, body=body, authorization=auth))
        assert status == 201, made
        return made

    return call, make


@pytest.fixture
def records(api):
    _, make = api
    email = {"type": "email", "subject": "Hi {{ contact.first_name }}", "text": "Code {{ data.code }}"}
    return {
        "list": make("contact_lists_create", "/v1/contact-lists", {"name": "Customers"})["id"],
        "community": make("communities_create", "/v1/communities", {"name": "Club", "suite_type": "community"})["id"],
        "email": make("templates_create", "/v1/templates", {"title": "Welcome", **email})["id"],
        "text": make("templates_create", "/v1/templates", {"title": "SMS", "type": "text", "body": "Hi"})["id"],
        "score": make("custom_fields_create", "/v1/custom-fields", {"name": "Score", "scope": "contact",
                                                                    "type": "number"})["id"],
        "birthday": make("custom_fields_create", "/v1/custom-fields", {"name": "Birthday", "scope": "contact",
                                                                       "type": "date"})["id"],
        "other": make("custom_fields_create", "/v1/custom-fields", {"name": "Ticket-ish", "scope": "other",
                                                                    "type": "text"})["id"],
        "webhook": make("webhooks_create", "/v1/webhooks", {"name": "Shop", "url": "https://shop.test/hook"})["id"],
        "contact": make("contacts_create", "/v1/contacts", {"email": "ada@example.com", "first_name": "Ada",
                                                            "timezone": "America/New_York"})["uuid"],
    }


def sweep(**changes):
    return {"title": "Close solved", "trigger": "sweep",
            "conditions": {"all": [{"field": "status", "operator": "is", "value": "solved"},
                                   {"field": "SOLVED", "operator": "greater_than", "value": 24}], "any": []},
            "actions": [{"field": "status", "value": "closed"}], **changes}


def event(records, **changes):
    return {"title": "Big order", "trigger": "event",
            "trigger_config": {"event": "shop.order_placed", "delay": {"hours": 1},
                               "window": {"from": "09:00", "to": "17:00"}},
            "conditions": {"all": [{"field": "data.total", "operator": "greater_than", "value": 100}],
                           "any": [{"field": f"custom_fields.{records['score']}", "operator": "present"},
                                   {"field": "email", "operator": "contains", "value": "@example.com"}]},
            "actions": [{"kind": "send_email", "template_id": records["email"]},
                        {"kind": "webhook", "webhook_id": records["webhook"], "body": "{{ data.total }}"},
                        {"kind": "emit_event", "detail_type": "order.big", "detail": {"who": "{{ contact.uuid }}"}},
                        {"kind": "set_custom_field", "custom_field_id": records["score"], "value": "10"},
                        {"kind": "cancel_text", "template_ids": [records["text"], records["text"]]}],
            **changes}


def contact_rule(records, trigger="list_joined", **config):
    source = {"kind": "community" if trigger == "community_joined" else "list",
              "id": records["community" if trigger == "community_joined" else "list"]}
    return {"title": f"On {trigger}", "trigger": trigger, "trigger_config": {"source": source, **config},
            "actions": [{"kind": "send_email", "template_id": records["email"]}]}


def create(api, body, status=201):
    got, _, answer = api[0]("automations_create", body=body)
    assert got == status, answer
    return answer


# -- every kind ----------------------------------------------------------------------------------
class TestKinds:
    def test_event_automation_round_trip(self, api, records):
        call, _ = api
        made = create(api, event(records))
        assert made["subject"] == "contact" and made["trigger"] == "event" and made["active"] is True
        assert made["trigger_config"] == {"event": "shop.order_placed", "delay": {"days": 0, "hours": 1, "minutes": 0},
                                          "window": {"from": "09:00", "to": "17:00"}}
        assert made["actions"][3] == {"kind": "set_custom_field", "custom_field_id": records["score"], "value": 10}
        assert made["actions"][4] == {"kind": "cancel_text", "template_ids": [records["text"]]}
        assert made["actions"][1] == {"kind": "webhook", "webhook_id": records["webhook"], "body": "{{ data.total }}"}
        assert made["conditions"]["all"] == [{"field": "data.total", "operator": "greater_than", "value": "100"}]
        assert isinstance(made["id"], int) and len(made["uuid"]) == 36 and made["created_at"].endswith("Z")
        assert call("automations_get", made["id"])[2] == made
        assert call("automations_get", made["uuid"])[2] == made

    def test_manual_automation_defaults(self, api, records):
        made = create(api, {"title": "Run me", "trigger": "manual",
                            "actions": [{"kind": "emit_event", "detail_type": "ran"}]})
        assert made["trigger_config"] == {"delay": {"days": 0, "hours": 0, "minutes": 0}, "window": None}
        assert made["conditions"] == {"all": [], "any": []}
        assert made["actions"] == [{"kind": "emit_event", "detail_type": "ran", "detail": {}}]

    def test_piggy_events_and_host_events(self, api, records):
        body = event(records)
        body["trigger_config"]["event"] = "contact_updated"
        assert create(api, body)["trigger_config"]["event"] == "contact_updated"
        body["trigger_config"]["event"] = "contact_renamed"
        answer = create(api, body, 422)
        assert error_code(answer) == "invalid" and answer["error"]["details"][0]["field"] == "trigger_config.event"

    def test_sweep_rule(self, api):
        made = create(api, sweep())
        assert made["subject"] == "ticket" and made["trigger_config"] == {}
        assert made["conditions"]["all"][1] == {"field": "SOLVED", "operator": "greater_than", "value": "24"}
        assert made["actions"] == [{"field": "status", "value": "closed"}]

    @pytest.mark.parametrize("trigger, config", [
        ("list_joined", {"delay": {"days": 1}, "window": {"from": "22:00", "to": "06:00"}}),
        ("community_joined", {}),
        ("recurring", {"recurrence": {"day": "monday", "at": "09:30", "weekday_only": True}}),
        ("date_field", {}),
    ])
    def test_contact_rules(self, api, records, trigger, config):
        if trigger == "date_field":
            config = {"date_field": {"custom_field_id": records["birthday"], "at": "08:00"}}
        made = create(api, contact_rule(records, trigger, **config))
        assert made["subject"] == "contact" and made["trigger"] == trigger and made["title"] == f"On {trigger}"
        assert set(made["trigger_config"]) == {"source", "delay", "window", "recurrence", "date_field"}
        assert made["actions"] == [{"kind": "send_email", "template_id": records["email"]}]

    def test_identical_active_automations_are_refused(self, api, records):
        create(api, event(records))
        answer = create(api, event(records, title="Again"), 422)
        assert "already exists" in answer["error"]["message"]
        create(api, event(records, title="Inactive copy", active=False))


def test_sample_events(account):
    """events/native_automations_*.json (also for ``sam local invoke -e``) against automation 1,
    the account's default sweep rule."""
    def run(function, name):
        event = sample_event(name)
        event["headers"]["authorization"] = account[2]
        return invoke(function, event)

    status, _, created = run("automations_create", "native_automations_create")
    assert status == 201 and created["trigger_config"]["event"] == "shop.order_placed"
    status, _, page = run("automations_list", "native_automations_list")
    assert status == 200 and [a["id"] for a in page["automations"]] == [created["id"]]
    status, _, patched = run("automations_update", "native_automations_update")
    assert status == 200 and patched["title"] == "Close solved tickets after a day"
    assert run("automations_get", "native_automations_get")[2] == patched
    status, _, answer = run("automations_test", "native_automations_test")
    assert status == 404 and error_code(answer) == "not_found"  # no ticket 1 yet
    assert run("automations_delete", "native_automations_delete")[0] == 204


# -- the same automations on the compatible surfaces ------------------------------------------------
class TestSurfaces:
    def test_zendesk_and_native_both_ways(self, api, account):
        call, _ = api
        auth = account[2]
        status, _, zendesk = invoke("zendesk_create_automation", http_event(
            "POST", "/api/v2/automations.json", body={"automation": {k: v for k, v in sweep(title="Z").items()
                                                                     if k != "trigger"}}, authorization=auth))
        assert status == 201
        zid = zendesk["automation"]["id"]
        native = call("automations_get", zid)[2]
        assert native["title"] == "Z" and native["trigger"] == "sweep" and native["id"] == zid
        made = create(api, sweep(title="N", position=7, actions=[{"field": "priority", "value": "low"}]))
        status, _, shown = invoke("zendesk_show_automation", http_event(
            "GET", f"/api/v2/automations/{made['id']}.json", route="/api/v2/automations/{id}",
            path_params={"id": f"{made['id']}.json"}, authorization=auth))
        assert status == 200 and shown["automation"]["title"] == "N" and shown["automation"]["position"] == 7
        assert shown["automation"]["conditions"] == made["conditions"]

    def test_vipecloud_and_native_both_ways(self, api, account, records):
        call, _ = api
        vip_auth = basic_auth(account[0].email, account[1], token_style=False)
        status, _, vip = invoke("vipecloud_create_automation", http_event(
            "POST", "/automations", authorization=vip_auth,
            body={"contact_list_id": records["list"], "template_type": "email", "template_id": records["email"],
                  "trigger_type": "contact", "delay_hours": 2}))
        assert status == 200
        native = call("automations_get", vip["id"])[2]
        assert native["trigger"] == "list_joined" and native["trigger_config"]["delay"]["hours"] == 2
        made = create(api, contact_rule(records, "recurring",
                                        recurrence={"day": 15, "at": "14:05", "weekday_only": False}))
        status, _, shown = invoke("vipecloud_get_automation", http_event(
            "GET", f"/automations/{made['id']}", route="/automations/{id}", path_params={"id": str(made["id"])},
            authorization=vip_auth))
        assert status == 200 and shown["id"] == made["id"] and shown["trigger"] == "recurring"
        assert json.loads(shown["schedule_data"]) == {"day": 15, "hour": 2, "min": 5, "ampm": "pm"}
        # Event automations are the engine's own: VipeCloud does not show them.
        other = create(api, event(records))
        status, _, _ = invoke("vipecloud_get_automation", http_event(
            "GET", f"/automations/{other['id']}", route="/automations/{id}", path_params={"id": str(other["id"])},
            authorization=vip_auth))
        assert status == 422


# -- listing -------------------------------------------------------------------------------------------
class TestList:
    def test_filters_and_cursor_pages(self, api, records):
        call, _ = api
        made = [create(api, event(records, title=f"E{i}", trigger_config={"event": f"shop.e{i}"})) for i in range(3)]
        paused = create(api, event(records, title="Paused", active=False))
        rule = create(api, contact_rule(records))
        everything = call("automations_list")[2]
        ids = [a["id"] for a in everything["automations"]]
        assert ids == sorted(ids) and len(ids) == 6 and everything["next_cursor"] is None  # the default rule too
        assert [a["id"] for a in call("automations_list", query={"trigger": "event", "active": "true"})[2][
            "automations"]] == [a["id"] for a in made]
        assert [a["id"] for a in call("automations_list", query={"active": "false"})[2]["automations"]] == [
            paused["id"]]
        contacts = call("automations_list", query={"subject": "contact"})[2]["automations"]
        assert [a["id"] for a in contacts] == [*(a["id"] for a in made), paused["id"], rule["id"]]
        assert [a["trigger"] for a in call("automations_list", query={"subject": "ticket"})[2]["automations"]] == [
            "sweep"]
        seen, cursor = [], None
        while True:
            query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            status, _, page = call("automations_list", query=query)
            assert status == 200 and len(page["automations"]) <= 2
            seen += [a["id"] for a in page["automations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids

    @pytest.mark.parametrize("query, status, code", [
        ({"cursor": "not a cursor!"}, 400, "malformed"), ({"cursor": "WyJ4Il0"}, 400, "malformed"),  # ["x"]
        ({"cursor": "eyJhIjoxfQ"}, 400, "malformed"),  # {"a":1}
        ({"active": "maybe"}, 422, "invalid"), ({"trigger": "hourly"}, 422, "invalid"),
        ({"subject": "people"}, 422, "invalid"), ({"limit": "0"}, 422, "invalid"), ({"limit": "101"}, 422, "invalid"),
        ({"limit": "ten"}, 422, "invalid"),
    ])
    def test_bad_parameters(self, api, query, status, code):
        got, _, body = api[0]("automations_list", query=query)
        assert got == status and error_code(body) == code


# -- updating and deleting -----------------------------------------------------------------------------
class TestChanges:
    def test_patch_keeps_what_is_left_out(self, api, records):
        call, _ = api
        made = create(api, event(records))
        status, _, patched = call("automations_update", made["uuid"], body={
            "title": "Renamed", "active": False, "conditions": {"all": [{"field": "email", "operator": "present"}]}})
        assert status == 200 and patched["title"] == "Renamed" and patched["active"] is False
        assert patched["conditions"] == {"all": [{"field": "email", "operator": "present", "value": None}], "any": []}
        assert patched["actions"] == made["actions"] and patched["trigger_config"] == made["trigger_config"]
        assert patched["id"] == made["id"] and patched["updated_at"] >= made["updated_at"]
        status, _, moved = call("automations_update", made["id"], body={
            "trigger": "manual", "trigger_config": {"delay": {"minutes": 5}}})
        assert status == 200 and moved["trigger"] == "manual"
        assert moved["trigger_config"] == {"delay": {"days": 0, "hours": 0, "minutes": 5}, "window": None}
        assert call("automations_get", made["id"])[2] == moved

    def test_a_patch_keeps_what_another_request_changed_meanwhile(self, api, records, account):
        # The PATCH reads the automation, another request renames it, then the PATCH writes: the
        # PATCH is merged again over the renamed automation instead of writing back the old title.
        from automations.bootstrap import services
        from automations.surfaces.native_automations import AutomationPatch, merged

        call, _ = api
        made = create(api, event(records))
        raced = []

        def patched(current):
            if not raced:
                raced.append(call("automations_update", made["id"], body={"title": "Renamed meanwhile"})[0])
            return merged(current, AutomationPatch(active=False))

        done = services().native_automations.patch(account[0].id, made["uuid"], patched)
        assert raced == [200] and done.title == "Renamed meanwhile" and done.active is False
        assert call("automations_get", made["id"])[2]["title"] == "Renamed meanwhile"

    def test_patch_of_sweep_and_contact_rules(self, api, records):
        call, _ = api
        rule = create(api, sweep())
        status, _, patched = call("automations_update", rule["id"], body={"position": 3})
        assert status == 200 and patched["position"] == 3 and patched["conditions"] == rule["conditions"]
        joined = create(api, contact_rule(records))
        status, _, patched = call("automations_update", joined["id"], body={
            "actions": [{"kind": "send_text", "template_id": records["text"]}]})
        assert status == 200 and patched["actions"] == [{"kind": "send_text", "template_id": records["text"]}]

    @pytest.mark.parametrize("patch, field", [
        ({"trigger": "event", "trigger_config": {"event": "a.b"}}, "trigger"),  # a ticket rule stays one
        ({"title": None}, "title"),
        ({"conditions": {"all": [{"field": "status"}]}}, "conditions.all.0.operator"),
        ({"actions": []}, "actions"),
        ({"trigger_config": {"event": "a.b"}}, "trigger_config"),  # sweep rules have no trigger_config
    ])
    def test_bad_patches_of_a_sweep_rule(self, api, patch, field):
        rule = create(api, sweep())
        status, _, body = api[0]("automations_update", rule["id"], body=patch)
        assert status == 422 and error_code(body) == "invalid"
        assert field in [d["field"] for d in body["error"]["details"]], body

    @pytest.mark.parametrize("patch, field", [
        ({"trigger": "recurring"}, "recurrence"),
        ({"trigger_config": {"source": {"kind": "list", "id": 999}}}, "base"),
        ({"actions": [{"kind": "webhook", "webhook_id": "wh_x"}]}, "actions.0.kind"),
        ({"trigger_config": {"event": "a.b"}}, "trigger_config.source"),
    ])
    def test_bad_patches_of_a_contact_rule(self, api, records, patch, field):
        rule = create(api, contact_rule(records))
        status, _, body = api[0]("automations_update", rule["id"], body=patch)
        assert status == 422 and error_code(body) == "invalid"
        assert field in [d["field"] for d in body["error"]["details"]], body

    def test_delete(self, api, records):
        call, _ = api
        made = create(api, event(records))
        assert call("automations_delete", made["uuid"])[0] == 204
        for function in ("automations_get", "automations_delete"):
            status, _, body = call(function, made["id"])
            assert status == 404 and error_code(body) == "not_found"
        create(api, event(records))  # its fingerprint went with it

    def test_a_recurring_automations_schedule_follows_it(self, api, records):
        """Its next firing's schedule is made with it, moved when its rule moves, gone with it:
        each through the function (and so the role) that changes the automation."""
        import boto3

        from automations import config

        call, _ = api
        scheduler = boto3.client("scheduler")

        def firing_days():
            found = scheduler.list_schedules(GroupName=config.run_schedule_group(), NamePrefix="rule_")["Schedules"]
            return {s["Name"].rsplit(".", 1)[1] for s in found}

        previous = clock.get_clock()
        clock.set_clock(clock.MovableClock(clock.parse_iso("2026-11-23T23:30:00Z"), frozen=True))  # a Tuesday there
        try:
            made = create(api, contact_rule(records, "recurring", recurrence={"day": "monday", "at": "09:30"}))
            assert firing_days() == {"2026-11-30"}
            status, _, moved = call("automations_update", made["id"], body={
                "trigger_config": {**made["trigger_config"], "recurrence": {"day": "friday", "at": "09:30"}}})
            assert status == 200, moved
            assert firing_days() == {"2026-11-27"}
            assert call("automations_delete", made["id"])[0] == 204
            assert firing_days() == set()
        finally:
            clock.set_clock(previous)


# -- bad input -----------------------------------------------------------------------------------------
class TestBadInput:
    @pytest.mark.parametrize("raw, status, code", [
        ("{bad json", 400, "malformed"), ("[]", 422, "invalid"), ('"text"', 422, "invalid"), ("", 422, "invalid"),
        ('{"title": "x", "trigger": "hourly", "actions": []}', 422, "invalid"),
        ('{"title": "x", "actions": []}', 422, "invalid"),
        ('{"title": 5, "trigger": "manual", "actions": [{"kind": "emit_event", "detail_type": "x"}]}', 422, "invalid"),
        ('{"title": "x", "trigger": "manual", "active": "sometimes", "actions": [{"kind": "emit_event", '
         '"detail_type": "x"}]}', 422, "invalid"),
        ('{"title": "x", "trigger": "manual", "colour": "red", "actions": [{"kind": "emit_event", '
         '"detail_type": "x"}]}', 422, "invalid"),
        ('{"title": "' + "x" * (1024 * 1024) + '"}', 413, "too_large"),
    ])
    def test_bodies(self, api, raw, status, code):
        got, _, body = api[0]("automations_create", raw=raw)
        assert got == status and error_code(body) == code, body

    @pytest.mark.parametrize("change, field", [
        ({"trigger_config": {"event": "shop.x", "delay": {"days": 400}}}, "base"),
        ({"trigger_config": {"event": "shop.x", "delay": {"days": -1}}}, "trigger_config.delay.days"),
        ({"trigger_config": {"event": "shop.x", "window": {"from": "9:00", "to": "17:00"}}},
         "trigger_config.window.from"),
        ({"trigger_config": {"event": "shop.x", "window": {"from": "09:00", "to": "09:00"}}}, "base"),
        ({"trigger_config": {"event": "bad name!"}}, "trigger_config.event"),
        ({"conditions": {"all": [{"field": "nickname", "operator": "is", "value": "x"}]}}, "conditions.all.0"),
        ({"conditions": {"all": [{"field": "email", "operator": "equals", "value": "x"}]}},
         "conditions.all.0.operator"),
        ({"conditions": {"all": [{"field": "custom_fields.999", "operator": "present"}]}}, "conditions.all.0"),
        ({"conditions": {"all": [{"field": "custom_fields.OTHER", "operator": "present"}]}}, "conditions.all.0"),
        ({"actions": []}, "actions"),
        ({"actions": [{"kind": "send_email", "template_id": 1}] * 26}, "actions"),
        ({"actions": [{"kind": "issue_credits"}]}, "actions.0.kind"),
        ({"actions": [{"kind": "send_email", "template_id": "TEXT"}]}, "actions.0"),
        ({"actions": [{"kind": "send_email", "template_id": 999}]}, "actions.0"),
        ({"actions": [{"kind": "start_series", "template_id": "EMAIL"}]}, "actions.0"),
        ({"actions": [{"kind": "set_custom_field", "custom_field_id": "SCORE", "value": "many"}]}, "actions.0"),
        ({"actions": [{"kind": "set_custom_field", "custom_field_id": 999, "value": "1"}]}, "actions.0"),
        ({"actions": [{"kind": "webhook", "webhook_id": "wh_missing"}]}, "actions.0"),
        ({"actions": [{"kind": "webhook", "webhook_id": "WEBHOOK", "body": "{% if %}"}]}, "actions.0.body"),
        ({"actions": [{"kind": "emit_event", "detail_type": "x", "detail": {"a": ["{{ x"]}}]}, "actions.0.detail.a.0"),
        ({"actions": [{"kind": "emit_event", "detail_type": "x" * 129}]}, "actions.0.detail_type"),
    ])
    def test_invalid_event_automations(self, api, records, change, field):
        body = json.loads(json.dumps(event(records, **change))
                          .replace('"TEXT"', str(records["text"])).replace('"EMAIL"', str(records["email"]))
                          .replace('"SCORE"', str(records["score"])).replace("OTHER", str(records["other"]))
                          .replace('"WEBHOOK"', json.dumps(records["webhook"])))
        answer = create(api, body, 422)
        assert error_code(answer) == "invalid" and field in [d["field"] for d in answer["error"]["details"]], answer

    @pytest.mark.parametrize("trigger, config, action, field", [
        ("list_joined", {"source": {"kind": "list", "id": 999}}, None, "base"),
        ("community_joined", {"source": {"kind": "list", "id": "LIST"}}, None, "base"),
        ("recurring", {"recurrence": {"day": "someday", "at": "09:00"}}, None, "base"),
        ("recurring", {}, None, "recurrence"),
        ("date_field", {"date_field": {"custom_field_id": "SCORE", "at": "09:00"}}, None, "custom_field_id"),
        ("list_joined", {}, {"kind": "send_email", "template_id": "TEXT"}, "template_id"),
        ("list_joined", {}, {"kind": "webhook", "webhook_id": "x"}, "actions.0.kind"),
    ])
    def test_invalid_contact_rules(self, api, records, trigger, config, action, field):
        body = contact_rule(records, trigger, **config)
        if action:
            body["actions"] = [action]
        body = json.loads(json.dumps(body).replace('"TEXT"', str(records["text"]))
                          .replace('"SCORE"', str(records["score"])).replace('"LIST"', str(records["list"])))
        answer = create(api, body, 422)
        assert field in [d["field"] for d in answer["error"]["details"]], answer

    def test_two_contact_rule_actions(self, api, records):
        body = contact_rule(records)
        body["actions"] *= 2
        assert create(api, body, 422)["error"]["details"][0]["field"] == "actions"

    @pytest.mark.parametrize("ref", ["999", "0", "abc", "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "1" * 20])
    def test_unknown_ids(self, api, ref):
        call, _ = api
        for function, body in (("automations_get", None), ("automations_update", {"title": "x"}),
                               ("automations_delete", None), ("automations_test", {"ticket_id": 1})):
            status, _, answer = call(function, ref, body=body)
            assert status == 404 and error_code(answer) == "not_found", (function, answer)

    def test_other_accounts_ids_are_not_found(self, api, records):
        call, _ = api
        made = create(api, event(records))
        from automations.bootstrap import services

        other, key = services().accounts.create_account("Other", "other@b.test", "UTC")
        auth = basic_auth(other.email, key)
        for ref in (made["id"], made["uuid"]):
            for function, body in (("automations_get", None), ("automations_update", {"title": "x"}),
                                   ("automations_delete", None),
                                   ("automations_test", {"contact_uuid": records["contact"]})):
                status, _, answer = call(function, ref, body=body, authorization=auth)
                assert status == 404 and error_code(answer) == "not_found", (function, answer)
        assert made["id"] not in [a["id"] for a in call("automations_list", authorization=auth)[2]["automations"]]
        assert call("automations_get", made["id"])[0] == 200  # untouched

    def test_unauthenticated(self, api):
        for function in ROUTES:
            status, _, body = api[0](function, 1, body={}, authorization="Bearer nope")
            assert status == 401 and error_code(body) == "unauthenticated"


# -- dry runs ------------------------------------------------------------------------------------------
class TestDryRun:
    def test_contact_automation(self, api, records):
        call, _ = api
        made = create(api, event(records))
        previous = clock.get_clock()
        clock.set_clock(clock.MovableClock(clock.parse_iso("2026-11-23T23:30:00Z"), frozen=True))
        try:
            status, _, answer = call("automations_test", made["id"], body={
                "contact_uuid": records["contact"], "data": {"total": 150, "code": "X1"}})
            # +1 hour is 19:30 in New York (the contact's zone), after the window: 09:00 the next day.
            assert status == 200 and answer["matches"] is True and answer["due_at"] == "2026-11-24T14:00:00Z"
            assert answer["would_change"] == {}
            email = answer["would_send"][0]
            assert (email["channel"], email["recipient"], email["subject"]) == ("email", "ada@example.com", "Hi Ada")
            assert "X1" in email["body"]
            status, _, answer = call("automations_test", made["uuid"], body={
                "contact_uuid": records["contact"], "data": {"total": 50}})
            assert answer == {"matches": False, "due_at": None, "would_send": [], "would_change": {}}
        finally:
            clock.set_clock(previous)

    @pytest.mark.parametrize("trigger, config, due", [
        # a day later is 18:30 in New York (the contact's zone): held until the 22:00 opening
        ("list_joined", {"delay": {"days": 1}, "window": {"from": "22:00", "to": "06:00"}}, "2026-11-25T03:00:00Z"),
        # 00:30 on a Tuesday in Amsterdam (the account's clock): next Monday, 09:30 there
        ("recurring", {"recurrence": {"day": "monday", "at": "09:30"}}, "2026-11-30T08:30:00Z"),
    ])
    def test_contact_rules(self, api, records, trigger, config, due):
        made = create(api, contact_rule(records, trigger, **config))
        previous = clock.get_clock()
        clock.set_clock(clock.MovableClock(clock.parse_iso("2026-11-23T23:30:00Z"), frozen=True))
        try:
            answer = api[0]("automations_test", made["id"], body={"contact_uuid": records["contact"]})[2]
        finally:
            clock.set_clock(previous)
        assert answer["matches"] is True and answer["due_at"] == due
        assert [(s["channel"], s["recipient"]) for s in answer["would_send"]] == [("email", "ada@example.com")]

    def test_date_field_rule(self, api, account, records):
        call, _ = api
        made = create(api, contact_rule(records, "date_field",
                                        date_field={"custom_field_id": records["birthday"], "at": "08:00"}))
        answer = call("automations_test", made["id"], body={"contact_uuid": records["contact"]})[2]
        assert answer["matches"] is False and answer["due_at"] is None  # no birthday held
        call_contact = invoke("contacts_update", http_event(
            "PATCH", f"/v1/contacts/{records['contact']}", route="/v1/contacts/{contact_uuid}",
            path_params={"contact_uuid": records["contact"]},
            body={"custom_fields": {str(records["birthday"]): "1990-02-14"}}, authorization=account[2]))
        assert call_contact[0] == 200
        answer = call("automations_test", made["id"], body={"contact_uuid": records["contact"]})[2]
        due = clock.parse_iso(answer["due_at"])
        assert answer["matches"] is True and due >= clock.now()
        assert due.astimezone(ZoneInfo("America/New_York")).strftime("%m-%d %H:%M") == "02-14 08:00"

    def test_ticket_automation(self, api, account):
        call, _ = api
        auth = account[2]
        status, _, created = invoke("zendesk_create_ticket", http_event(
            "POST", "/api/v2/tickets.json", body={"ticket": {
                "subject": "Printer", "description": "On fire",
                "requester": {"name": "Jane", "email": "jane@customer.test"}}}, authorization=auth))
        assert status == 201
        ticket_id = created["ticket"]["id"]
        notify = ["requester_id", "About #{{ticket.id}}", "Now {{ticket.status}}"]
        rule = create(api, sweep(conditions={"all": [{"field": "status", "operator": "is", "value": "new"},
                                                     {"field": "NEW", "operator": "is", "value": 0}]},
                                 actions=[{"field": "status", "value": "open"},
                                          {"field": "notification_user", "value": notify}]))
        status, _, answer = call("automations_test", rule["id"], body={"ticket_id": ticket_id})
        assert status == 200 and answer["matches"] is True and answer["due_at"] is None
        assert answer["would_change"] == {"status": "open"}
        assert answer["would_send"] == [{"channel": "email", "recipient": "jane@customer.test",
                                         "subject": f"About #{ticket_id}", "body": "Now open", "skipped": None}]
        status, _, shown = invoke("zendesk_show_ticket", http_event(
            "GET", f"/api/v2/tickets/{ticket_id}.json", route="/api/v2/tickets/{id}",
            path_params={"id": f"{ticket_id}.json"}, authorization=auth))
        assert shown["ticket"]["status"] == "new"  # a dry run changes nothing
        other = create(api, sweep(title="Never", conditions={"all": [
            {"field": "status", "operator": "is", "value": "solved"},
            {"field": "SOLVED", "operator": "greater_than", "value": 1}]}))
        assert call("automations_test", other["id"], body={"ticket_id": ticket_id})[2]["matches"] is False

    def test_a_group_notification_addresses_the_groups_agents(self, api, account):
        """notification_group: the dry run reads the group's agents (a batch read, through the
        dry run's own function) and would mail each of them."""
        call, make = api
        auth = account[2]
        alex = make("users_create", "/v1/users", {"name": "Alex Agent", "email": "alex@acme.test", "role": "agent"})
        group = make("groups_create", "/v1/groups", {"name": "Tier 2", "user_ids": [alex["id"]]})
        created = invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json", body={"ticket": {
            "subject": "Printer", "description": "On fire"}}, authorization=auth))[2]
        rule = create(api, sweep(conditions={"all": [{"field": "status", "operator": "is", "value": "new"},
                                                     {"field": "NEW", "operator": "is", "value": 0}]},
                                 actions=[{"field": "notification_group",
                                           "value": [str(group["id"]), "About #{{ticket.id}}", "Have a look"]}]))
        status, _, answer = call("automations_test", rule["id"], body={"ticket_id": created["ticket"]["id"]})
        assert status == 200 and answer["matches"] is True
        assert [(s["channel"], s["recipient"]) for s in answer["would_send"]] == [("email", "alex@acme.test")]

    def test_a_stored_rule_with_a_recipient_that_is_no_id(self, api, account):
        import dataclasses

        import boto3

        from automations import config
        from automations.adapters.dynamo import DynamoAutomationStore
        from automations.domain.model import Action

        call, _ = api
        auth = account[2]
        created = invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json", body={"ticket": {
            "subject": "Printer", "description": "On fire", "status": "solved"}}, authorization=auth))[2]
        rule = create(api, sweep(conditions={"all": [{"field": "status", "operator": "is", "value": "solved"},
                                                     {"field": "SOLVED", "operator": "is", "value": 0}]}))
        store = DynamoAutomationStore(boto3.client("dynamodb"), config.table_name())
        stored = store.get(account[0].id, rule["id"])  # rewritten below every check, as older records can be
        store.replace(stored, dataclasses.replace(stored, actions=(
            *stored.actions, Action("notification_user", ("5" * 5000, "s", "b")))), 500)
        status, _, answer = call("automations_test", rule["id"], body={"ticket_id": created["ticket"]["id"]})
        assert status == 422 and answer["error"]["code"] == "invalid"
        assert "is not a user id" in answer["error"]["details"][0]["message"]

    @pytest.mark.parametrize("body, status, code", [
        ({}, 422, "invalid"), ({"contact_uuid": "CONTACT", "ticket_id": 1}, 422, "invalid"),
        ({"ticket_id": 1}, 422, "invalid"),  # a contact automation
        ({"contact_uuid": "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}, 404, "not_found"),
        ({"contact_uuid": "nope"}, 404, "not_found"), ({"ticket_id": "one"}, 422, "invalid"),
        ({"contact_uuid": "CONTACT", "data": "text"}, 422, "invalid"),
    ])
    def test_bad_dry_runs(self, api, records, body, status, code):
        made = create(api, event(records))
        body = json.loads(json.dumps(body).replace("CONTACT", records["contact"]))
        got, _, answer = api[0]("automations_test", made["id"], body=body)
        assert got == status and error_code(answer) == code, answer

    def test_ticket_for_a_contact_rule_and_back(self, api, records):
        rule = create(api, sweep())
        got, _, answer = api[0]("automations_test", rule["id"], body={"contact_uuid": records["contact"]})
        assert got == 422 and answer["error"]["details"][0]["field"] == "contact_uuid"
        got, _, answer = api[0]("automations_test", rule["id"], body={"ticket_id": 424242})
        assert got == 404



@pytest.mark.parametrize("delay", [{"days": 1484, "hours": 18715095, "minutes": 3387108242641713627136},
                                   {"days": 10 ** 30, "hours": 0, "minutes": 0}])
def test_absurd_delays_are_refused_not_overflowed(api, records, delay):
    body = event(records)
    body["trigger_config"]["delay"] = delay
    answer = create(api, body, status=422)
    assert answer["error"]["code"] == "invalid"
