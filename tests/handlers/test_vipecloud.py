"""The VipeCloud-compatible automations handlers, driven by events/vipecloud_*.json (the seed's
five request bodies, verbatim) and by built events: every response field-for-field as the seed's
samples, every validation message in VipeCloud's order, both path families, tenancy."""
import json

import pytest
from support import basic_auth, http_event, invoke, sample_event

from automations.surfaces import vipecloud as vc

# The seed's sample responses (GET /automations/123, /456, /789); the ids in them are the seed's.
SEED_CONTACT_LIST = {
    "id": 123, "contact_list_id": 123, "contact_list_name": "My contact list", "template_type": "email",
    "template_id": 456, "template_title": "My email template", "trigger": "contact", "delay_days": 0,
    "delay_hours": 0, "delay_min": 0, "schedule_data": None, "weekday_only": None, "item_type": "contact_list",
}
SEED_SUITE_PARTY = {
    "id": 456, "contact_list_id": 0, "template_type": "email", "template_id": 789,
    "template_title": "Welcome to our community", "trigger": "suite_party_joined", "delay_days": 0,
    "delay_hours": 1, "delay_min": 0, "schedule_data": "{\"suite_party_id\":\"123\",\"contact_trigger_hours\":0}",
    "weekday_only": None, "item_type": "suite_party", "suite_name": "My Community", "suite_type": "community",
}
SEED_CUSTOM_FIELD = {
    "id": 789, "contact_list_id": 123, "contact_list_name": "My contact list", "template_type": "custom_field",
    "template_id": 456, "trigger": "contact", "delay_days": 0, "delay_hours": 0, "delay_min": 0,
    "schedule_data": None, "weekday_only": None, "item_type": "contact_list",
    "automation_data": {"custom_field_value": "Active Customer", "field_type": "Dropdown"},
}


def ordered(body):
    """Keys in order, so a test checks the order of the seed's samples too."""
    return list(body.items())


@pytest.fixture
def vip(account):
    """A VipeCloud-style credential (email:key) and the records the seed's samples point at,
    created through the native /v1 handlers."""
    acct, key, _ = account
    auth = basic_auth(acct.email, key, token_style=False)

    def make(function, path, body):
        status, _, made = invoke(function, http_event("POST", path, body=body, authorization=auth))
        assert status == 201, made
        return made["id"]

    email = {"type": "email", "subject": "Hello {{ contact.first_name }}", "html": "<p>Hi</p>"}
    return {
        "auth": auth, "account": acct,
        "list": make("contact_lists_create", "/v1/contact-lists", {"name": "My contact list"}),
        "suite": make("communities_create", "/v1/communities", {"name": "My Community", "suite_type": "community"}),
        "template": make("templates_create", "/v1/templates", {"title": "My email template", **email}),
        "welcome": make("templates_create", "/v1/templates", {"title": "Welcome to our community", **email}),
        "cancel": [make("templates_create", "/v1/templates", {"title": f"Promo {i}", **email}) for i in range(3)],
        "text": make("templates_create", "/v1/templates", {"title": "SMS", "type": "text", "body": "Hi"}),
        "series": make("templates_create", "/v1/templates", {"title": "Onboarding Series", "type": "series",
                                                             "steps": [{"template_id": 1}]}),
        "dropdown": make("custom_fields_create", "/v1/custom-fields", {
            "name": "Status", "scope": "contact", "type": "dropdown", "options": ["Lead", "Active Customer"]}),
        "checkbox": make("custom_fields_create", "/v1/custom-fields",
                         {"name": "Subscribed", "scope": "contact", "type": "checkbox"}),
        "company": make("custom_fields_create", "/v1/custom-fields",
                        {"name": "Industry", "scope": "other", "type": "text"}),
        "birthday": make("custom_fields_create", "/v1/custom-fields",
                         {"name": "Birthday", "scope": "contact", "type": "date"}),
        "number": make("custom_fields_create", "/v1/custom-fields", {"name": "Score", "scope": "contact", "type": "number"}),
    }


def seed_sample(name, vip, ids):
    """events/<name>.json with the seed's ids swapped for the ones created here."""
    event = sample_event(name)
    event["headers"]["authorization"] = vip["auth"]
    body = json.loads(event["body"])
    for key, mapping in ids.items():
        body[key] = [mapping[i] for i in body[key]] if isinstance(body[key], list) else mapping[body[key]]
    event["body"] = json.dumps(body)
    return event


def create(vip, body, path="/automations"):
    return invoke("vipecloud_create_automation", http_event("POST", path, body=body, authorization=vip["auth"]))


def update(vip, automation_id, body, family="automations"):
    return invoke("vipecloud_update_automation", http_event(
        "POST", f"/{family}/{automation_id}", route=f"/{family}/{{id}}", path_params={"id": str(automation_id)},
        body=body, authorization=vip["auth"]))


def get(vip, automation_id, family="automations"):
    return invoke("vipecloud_get_automation", http_event(
        "GET", f"/{family}/{automation_id}", route=f"/{family}/{{id}}", path_params={"id": str(automation_id)},
        authorization=vip["auth"]))


def list_all(vip, family="automations"):
    return invoke("vipecloud_list_automations", http_event("GET", f"/{family}", authorization=vip["auth"]))


def contact_rule(vip, **changes):
    body = {"contact_list_id": vip["list"], "template_type": "email", "template_id": vip["template"],
            "trigger_type": "contact", "delay_days": 0, "delay_hours": 0, "delay_min": 0}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


# -- the seed's five samples ---------------------------------------------------------------------
# Each seed sample: the seed's ids in it mapped to the ones made here, and its answer (its id aside).
SEED_SAMPLES = {
    "vipecloud_create_automation": (
        lambda vip: {"contact_list_id": {123: vip["list"]}, "template_id": {456: vip["template"]}},
        lambda vip: {**SEED_CONTACT_LIST, "contact_list_id": vip["list"], "template_id": vip["template"]}),
    "vipecloud_create_suite_party_automation": (
        lambda vip: {"suite_party_id": {789: vip["suite"]}, "template_id": {456: vip["welcome"]}},
        lambda vip: {**SEED_SUITE_PARTY, "template_id": vip["welcome"],
                     "schedule_data": json.dumps({"suite_party_id": str(vip["suite"]), "contact_trigger_hours": 0},
                                                 separators=(",", ":"))}),
    "vipecloud_create_custom_field_automation": (
        lambda vip: {"contact_list_id": {123: vip["list"]}, "action_custom_field_id": {456: vip["dropdown"]}},
        lambda vip: {**SEED_CUSTOM_FIELD, "contact_list_id": vip["list"], "template_id": vip["dropdown"]}),
    "vipecloud_create_checkbox_automation": (
        lambda vip: {"contact_list_id": {123: vip["list"]}, "action_custom_field_id": {789: vip["checkbox"]}},
        lambda vip: {**SEED_CUSTOM_FIELD, "contact_list_id": vip["list"], "template_id": vip["checkbox"],
                     "automation_data": {"custom_field_value": "true", "field_type": "Checkbox"}}),
    "vipecloud_create_cancel_automation": (
        lambda vip: {"contact_list_id": {123: vip["list"]},
                     "template_ids": dict(zip([1234, 5678, 9012], vip["cancel"]))},
        lambda vip: {"id": None, "contact_list_id": vip["list"], "contact_list_name": "My contact list",
                     "template_type": "cancel_email", "template_id": 0, "template_ids": vip["cancel"],
                     "trigger": "contact", "delay_days": 0, "delay_hours": 0, "delay_min": 0, "schedule_data": None,
                     "weekday_only": None, "item_type": "contact_list"}),
}


class TestSeedSamples:
    @pytest.mark.parametrize("sample", SEED_SAMPLES)
    def test_a_seed_sample_is_answered_as_the_seed_answers_it(self, vip, sample):
        ids, answer = SEED_SAMPLES[sample]
        status, _, body = invoke("vipecloud_create_automation", seed_sample(sample, vip, ids(vip)))
        assert status == 200
        assert ordered(body) == ordered({**answer(vip), "id": body["id"]})
        assert get(vip, body["id"])[2] == body and get(vip, body["id"], "autoresponders")[2] == body

    def test_get_all_is_a_bare_array_in_id_order(self, vip):
        first = create(vip, contact_rule(vip))[2]
        second = create(vip, {"item_type": "suite_party", "suite_party_id": vip["suite"], "template_type": "series",
                              "template_id": vip["series"], "delay_days": 0, "delay_hours": 0, "delay_min": 30})[2]
        status, _, body = list_all(vip)
        assert status == 200 and body == [first, second]
        assert second["template_title"] == "Onboarding Series" and second["delay_min"] == 30
        assert list_all(vip, "autoresponders")[2] == body

    def test_the_old_autoresponders_spelling(self, vip):
        status, _, body = invoke("vipecloud_create_automation", seed_sample(
            "vipecloud_create_autoresponder", vip, {"contact_list_id": {123: vip["list"]},
                                                    "template_id": {456: vip["template"]}}))
        assert status == 200 and body["trigger"] == "contact" and body["item_type"] == "contact_list"


# -- every validation message, in VipeCloud's order ----------------------------------------------
def message(response):
    status, _, body = response
    assert status == 422 and set(body) == {"status", "message"} and body["status"] == "error", body
    return body["message"]


CASES = [
    # what the item type requires comes first
    (lambda v: {}, vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"contact_list_id": v["list"], "template_type": "email"}, vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"contact_list_id": 99999, "template_type": "fax", "template_id": 1}, vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"contact_list_id": "abc", "template_type": "email", "template_id": 1}, vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"contact_list_id": v["list"], "template_type": "cancel_email"}, vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"contact_list_id": v["list"], "template_type": "cancel_email", "template_ids": []},
     vc.CONTACT_LIST_REQUIRED),
    (lambda v: {"item_type": "suite_party"}, vc.SUITE_PARTY_REQUIRED),
    (lambda v: {"item_type": "suite_party", "suite_party_id": v["suite"]}, vc.SUITE_PARTY_REQUIRED),
    (lambda v: {"item_type": "suite_party", "template_type": "email", "contact_list_id": v["list"]},
     vc.SUITE_PARTY_REQUIRED),
    (lambda v: {"item_type": "party", "contact_list_id": v["list"]}, "Unsupported item_type 'party'."),
    (lambda v: {"item_type": 5}, "Unsupported item_type '5'."),
    # then the list or community
    (lambda v: contact_rule(v, contact_list_id=99999), "Contact list not found."),
    (lambda v: contact_rule(v, contact_list_id=99999, template_type="custom_field", template_id=None),
     "Contact list not found."),
    (lambda v: {"item_type": "suite_party", "suite_party_id": 99999, "template_type": "email"},
     "Suite/Community not found."),
    (lambda v: {"item_type": "suite_party", "suite_party_id": v["list"] + 100, "template_type": "email",
                "template_id": v["template"]}, "Suite/Community not found."),
    # then the custom field action
    (lambda v: contact_rule(v, template_type="custom_field", template_id=None), vc.CUSTOM_FIELD_REQUIRED),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["dropdown"]),
     vc.CUSTOM_FIELD_REQUIRED),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_value="x"), vc.CUSTOM_FIELD_REQUIRED),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=99999,
                            action_custom_field_value="x", trigger_type=None), "Custom field not found."),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["company"],
                            action_custom_field_value="x"), "Custom field must be a contact field type."),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["checkbox"],
                            action_custom_field_value="yes"), "Checkbox custom field value must be 'true' or 'false'."),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["checkbox"],
                            action_custom_field_value=1), "Checkbox custom field value must be 'true' or 'false'."),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["dropdown"],
                            action_custom_field_value="Partner"), "Invalid value for dropdown/picklist custom field."),
    (lambda v: contact_rule(v, template_type="custom_field", action_custom_field_id=v["number"],
                            action_custom_field_value="many"), "Custom field value must be a number."),
    # then the templates
    (lambda v: contact_rule(v, template_id=99999, trigger_type=None), "Template not found."),
    (lambda v: contact_rule(v, template_id=v["text"]), "Template not found."),
    (lambda v: contact_rule(v, template_type="text", template_id=v["template"]), "Template not found."),
    (lambda v: contact_rule(v, template_type="series", template_id=v["template"]), "Template not found."),
    (lambda v: contact_rule(v, template_type="cancel_email", template_id=None,
                            template_ids=[v["template"], 99999]), "Template not found."),
    (lambda v: contact_rule(v, template_type="cancel_text", template_id=None, template_ids=[v["template"]]),
     "Template not found."),
    (lambda v: {"item_type": "suite_party", "suite_party_id": v["suite"], "template_type": "email"},
     "Template not found."),
    # then the trigger
    (lambda v: contact_rule(v, trigger_type=None), "Failed to create automation."),
    (lambda v: contact_rule(v, trigger_type="sometimes"), "Failed to create automation."),
    (lambda v: contact_rule(v, trigger_type="suite_party_joined"), "Failed to create automation."),
    # then this product's checks of delays, windows and schedules
    (lambda v: contact_rule(v, delay_days=-1), "delay_days, delay_hours and delay_min must be whole numbers of 0 or more."),
    (lambda v: contact_rule(v, delay_hours="1.5"), "delay_days, delay_hours and delay_min must be whole numbers of 0 or more."),
    (lambda v: contact_rule(v, delay_days=365, delay_min=1), "The delay must not be longer than 365 days."),
    (lambda v: contact_rule(v, contact_trigger_hours=1), "contact_trigger_from_hour must be a whole number from 1 to 12."),
    (lambda v: contact_rule(v, contact_trigger_hours="1", contact_trigger_from_hour=9, contact_trigger_from_min=75,
                            contact_trigger_from_ampm="am"), "contact_trigger_from_min must be a whole number from 0 to 59."),
    (lambda v: contact_rule(v, contact_trigger_hours=1, contact_trigger_from_hour=9, contact_trigger_from_min=0,
                            contact_trigger_from_ampm="am", contact_trigger_to_hour=9, contact_trigger_to_min=0,
                            contact_trigger_to_ampm="xm"), "contact_trigger_to_ampm must be am or pm."),
    (lambda v: contact_rule(v, contact_trigger_hours=1, contact_trigger_from_hour=9, contact_trigger_from_min=0,
                            contact_trigger_from_ampm="am", contact_trigger_to_hour=9, contact_trigger_to_min=0,
                            contact_trigger_to_ampm="am"), "The send window must not start and end at the same time."),
    (lambda v: contact_rule(v, trigger_type="recurring", day="monday", hour=9, min=0),
     "A recurring trigger requires day, hour, min and ampm."),
    (lambda v: contact_rule(v, trigger_type="recurring", day=0, hour=9, min=0, ampm="am"),
     "day must be daily, a weekday name (sunday to saturday) or a day of the month (1 to 31)."),
    (lambda v: contact_rule(v, trigger_type="recurring", day="sunday", hour=9, min=0, ampm="am", weekday_only="on"),
     "weekday_only cannot be used with a recurring day of saturday or sunday."),
    (lambda v: contact_rule(v, trigger_type="recurring", day="daily", hour=0, min=0, ampm="am"),
     "hour must be a whole number from 1 to 12."),
    (lambda v: contact_rule(v, trigger_type="custom_field", hour=9, min=0, ampm="am"),
     "A custom_field trigger requires custom_field_id, hour, min and ampm."),
    (lambda v: contact_rule(v, trigger_type="custom_field", custom_field_id=99999, hour=9, min=0, ampm="am"),
     "Custom field not found."),
    (lambda v: contact_rule(v, trigger_type="custom_field", custom_field_id=v["company"], hour=9, min=0, ampm="am"),
     "Custom field must be a contact field type."),
    (lambda v: contact_rule(v, trigger_type="custom_field", custom_field_id=v["checkbox"], hour=9, min=0, ampm="am"),
     "Custom field must be a date field type."),
    (lambda v: contact_rule(v, template_type="cancel_email", template_id=None, template_ids=list(range(1, 102))),
     "template_ids may list at most 100 templates."),
]


@pytest.mark.parametrize("body, expected", CASES)
def test_validation_messages(vip, body, expected):
    assert message(create(vip, body(vip))) == expected


@pytest.mark.parametrize("body, expected", CASES[:12])
def test_the_old_path_answers_the_same(vip, body, expected):
    assert message(create(vip, body(vip), "/autoresponders")) == expected


def test_updates(vip):
    created = create(vip, contact_rule(vip))[2]
    recurring = contact_rule(vip, trigger_type="recurring", recurring_day="Monday", recurring_hour="9",
                             recurring_min="0", recurring_ampm="AM", weekday_only="on", template_type="series",
                             template_id=vip["series"])
    status, _, body = update(vip, created["id"], recurring)
    assert status == 200 and body["id"] == created["id"]
    assert (body["trigger"], body["template_type"], body["template_title"], body["weekday_only"]) == (
        "recurring", "series", "Onboarding Series", "on")
    assert json.loads(body["schedule_data"]) == {"day": "monday", "hour": 9, "min": 0, "ampm": "am"}
    kept = update(vip, created["id"], {k: v for k, v in recurring.items() if k != "trigger_type"}, "autoresponders")
    assert kept[2] == body  # a missing trigger_type keeps the current trigger
    status, _, body = update(vip, created["id"], {**contact_rule(vip), "trigger_type": None, "trigger": "custom_field",
                                                  "custom_field_id": vip["birthday"], "hour": 12, "min": 30,
                                                  "ampm": "pm"})
    assert status == 200 and body["trigger"] == "custom_field" and body["weekday_only"] is None
    assert json.loads(body["schedule_data"]) == {"custom_field_id": str(vip["birthday"]), "hour": 12, "min": 30,
                                                 "ampm": "pm"}
    assert get(vip, created["id"])[2] == body
    assert message(update(vip, 99999, contact_rule(vip))) == vc.UPDATE_FAILED
    assert message(update(vip, 1, contact_rule(vip))) == vc.UPDATE_FAILED  # the Zendesk default rule
    assert message(update(vip, "abc", contact_rule(vip))) == vc.UPDATE_FAILED
    assert message(update(vip, created["id"], contact_rule(vip, trigger_type="never"))) == vc.UPDATE_FAILED
    assert message(update(vip, created["id"], {})) == vc.CONTACT_LIST_REQUIRED  # validation comes first


# A body is read whole before any record is looked up; of two problems, the one VipeCloud meets
# first still wins (its own checks before this product's delays, windows and schedules).
TWO_PROBLEMS = [
    (lambda v: contact_rule(v, contact_list_id=99999, delay_days=-1), "Contact list not found."),
    (lambda v: contact_rule(v, contact_list_id=99999, trigger_type="never"), "Contact list not found."),
    (lambda v: contact_rule(v, template_id=99999, delay_days=-1), "Template not found."),
    (lambda v: contact_rule(v, trigger_type="custom_field", custom_field_id=99999, hour=9, min=0, ampm="am",
                            delay_min="x"), "delay_days, delay_hours and delay_min must be whole numbers of 0 or more."),
    (lambda v: contact_rule(v, trigger_type="never", delay_days=-1), "Failed to create automation."),
]


@pytest.mark.parametrize("body, expected", TWO_PROBLEMS)
def test_of_two_problems_the_first_in_vipecloud_order_wins(vip, body, expected):
    assert message(create(vip, body(vip))) == expected


def test_an_update_that_changes_the_send_window_queues_the_re_plan_of_the_rules_waiting_runs(vip):
    """Through the function and its role: one task per shard of the rule's waiting runs, and none
    for an update that leaves the window as it was."""
    import boto3

    from automations import config
    from automations.adapters.shards import DUE_SHARDS

    def queued():
        sqs, tasks = boto3.client("sqs"), []
        while messages := sqs.receive_message(QueueUrl=config.expand_queue_url(),
                                              MaxNumberOfMessages=10).get("Messages", []):
            tasks += [json.loads(m["Body"]) for m in messages]
            for m in messages:
                sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])
        return tasks

    window = {"contact_trigger_hours": 1, "contact_trigger_from_hour": 9, "contact_trigger_from_min": 0,
              "contact_trigger_from_ampm": "am", "contact_trigger_to_hour": 5, "contact_trigger_to_min": 0,
              "contact_trigger_to_ampm": "pm"}
    created = create(vip, contact_rule(vip, **window))[2]
    assert update(vip, created["id"], contact_rule(vip, delay_days=2, **window))[0] == 200 and queued() == []
    narrowed = {**window, "contact_trigger_from_hour": 1, "contact_trigger_from_ampm": "pm", "contact_trigger_to_hour": 3}
    assert update(vip, created["id"], contact_rule(vip, delay_days=2, **narrowed))[0] == 200
    tasks = queued()
    assert sorted(t["shard"] for t in tasks) == list(range(DUE_SHARDS))
    assert {(t["automation_id"], t["replan"]) for t in tasks} == {(created["id"], True)}


def test_an_update_reports_a_trigger_it_cannot_keep_before_the_timing(vip):
    suite = create(vip, {"item_type": "suite_party", "suite_party_id": vip["suite"], "template_type": "email",
                         "template_id": vip["template"]})[2]
    untimed = {**contact_rule(vip, delay_hours="soon"), "trigger_type": None}
    assert message(update(vip, 99999, untimed)) == vc.UPDATE_FAILED  # no automation, so no trigger to keep
    assert message(update(vip, suite["id"], untimed)) == vc.UPDATE_FAILED  # suite_party_joined is no list trigger
    assert message(update(vip, 99999, contact_rule(vip, delay_hours="soon"))).startswith("delay_days")


def test_send_windows_and_suite_details(vip):
    window = {"contact_trigger_hours": 1, "contact_trigger_from_hour": 9, "contact_trigger_from_min": 0,
              "contact_trigger_from_ampm": "am", "contact_trigger_to_hour": "5", "contact_trigger_to_min": "30",
              "contact_trigger_to_ampm": "pm"}
    status, _, body = create(vip, contact_rule(vip, **window, delay_days="2"))
    assert status == 200 and body["delay_days"] == 2
    assert json.loads(body["schedule_data"]) == {**window, "contact_trigger_to_hour": 5, "contact_trigger_to_min": 30}
    status, _, body = create(vip, {"item_type": "suite_party", "suite_party_id": str(vip["suite"]),
                                   "trigger_type": "recurring", "template_type": "text", "template_id": vip["text"],
                                   **window})
    assert status == 200 and body["trigger"] == "suite_party_joined"  # forced for suite_party
    assert json.loads(body["schedule_data"]) == {"suite_party_id": str(vip["suite"]), **window,
                                                 "contact_trigger_to_hour": 5, "contact_trigger_to_min": 30}
    assert body["contact_list_id"] == 0 and "contact_list_name" not in body
    status, _, body = create(vip, contact_rule(vip, template_type="custom_field", template_id=None,
                                               action_custom_field_id=vip["checkbox"],
                                               action_custom_field_value=False))
    assert status == 200 and body["automation_data"] == {"custom_field_value": "false", "field_type": "Checkbox"}


def test_identical_automations_are_refused(vip):
    assert create(vip, contact_rule(vip))[0] == 200
    assert "already exists" in message(create(vip, contact_rule(vip)))


def test_deleted_references_show_as_null(vip):
    created = create(vip, contact_rule(vip))[2]
    for function, path, route, param, value in (
            ("templates_delete", f"/v1/templates/{vip['template']}", "/v1/templates/{template_id}", "template_id",
             vip["template"]),
            ("contact_lists_delete", f"/v1/contact-lists/{vip['list']}", "/v1/contact-lists/{list_id}", "list_id",
             vip["list"])):
        assert invoke(function, http_event("DELETE", path, route=route, path_params={param: str(value)},
                                           authorization=vip["auth"]))[0] == 204
    body = get(vip, created["id"])[2]
    assert body["template_title"] is None and body["contact_list_name"] is None


def test_tenancy(vip):
    from automations.bootstrap import services

    mine = create(vip, contact_rule(vip))[2]
    acct, key = services().accounts.create_account("Other", "other@example.test")
    other = {**vip, "auth": basic_auth(acct.email, key, token_style=False)}
    assert message(get(other, mine["id"])) == vc.NOT_FOUND
    assert message(update(other, mine["id"], contact_rule(vip))) == "Contact list not found."
    assert list_all(other)[2] == []
    theirs_list = invoke("contact_lists_create", http_event("POST", "/v1/contact-lists", body={"name": "Theirs"},
                                                            authorization=other["auth"]))[2]["id"]
    assert message(update(other, mine["id"], contact_rule(vip, contact_list_id=theirs_list))) == "Template not found."
    theirs = {"contact_list_id": theirs_list, "template_type": "cancel_email", "template_ids": [vip["template"]],
              "trigger_type": "contact"}
    assert message(create(other, theirs)) == "Template not found."
    assert get(vip, mine["id"])[2] == mine


def test_zendesk_and_vipecloud_keep_to_their_own(vip):
    mine = create(vip, contact_rule(vip))[2]
    status, _, zendesk = invoke("zendesk_list_automations", http_event("GET", "/api/v2/automations.json",
                                                                       authorization=vip["auth"]))
    assert status == 200 and mine["id"] not in [a["id"] for a in zendesk["automations"]]
    assert [a["id"] for a in list_all(vip)[2]] == [mine["id"]]  # the Zendesk default rule is not listed
    assert message(get(vip, 1)) == vc.NOT_FOUND
    # a contact automation's id is not found on the Zendesk surface, whatever the verb
    by_id = dict(route="/api/v2/automations/{id}", path_params={"id": str(mine["id"])}, authorization=vip["auth"])
    path = f"/api/v2/automations/{mine['id']}.json"
    for function, method, body in [("zendesk_show_automation", "GET", None),
                                   ("zendesk_update_automation", "PUT", {"automation": {"title": "hijack"}}),
                                   ("zendesk_delete_automation", "DELETE", None)]:
        assert invoke(function, http_event(method, path, body=body, **by_id))[0] == 404
    assert invoke("zendesk_update_many_automations", http_event(
        "PUT", "/api/v2/automations/update_many.json", body={"automations": [{"id": mine["id"], "active": False}]},
        authorization=vip["auth"]))[0] == 404
    assert invoke("zendesk_destroy_many_automations", http_event(
        "DELETE", "/api/v2/automations/destroy_many.json", query={"ids": str(mine["id"])},
        authorization=vip["auth"]))[0] == 404
    assert get(vip, mine["id"])[2]["id"] == mine["id"]  # untouched


@pytest.mark.parametrize("raw, status, text", [
    ("{bad json", 422, "The request body is not valid JSON"),
    ("", 422, "The request body is empty"),
    ("[1, 2]", 422, "The request body must be a JSON object."),
    ('"contact"', 422, "The request body must be a JSON object."),
    ('{"contact_list_id": "' + "x" * (1024 * 1024) + '"}', 413, "The request body is larger than 1024 KB"),
])
def test_bad_bodies(vip, raw, status, text):
    got, _, body = invoke("vipecloud_create_automation", http_event("POST", "/automations", raw_body=raw,
                                                                    authorization=vip["auth"]))
    assert got == status and body["status"] == "error" and body["message"].startswith(text)


@pytest.mark.parametrize("function, method, path, params", [
    ("vipecloud_list_automations", "GET", "/automations", None),
    ("vipecloud_get_automation", "GET", "/automations/1", {"id": "1"}),
    ("vipecloud_create_automation", "POST", "/autoresponders", None),
    ("vipecloud_update_automation", "POST", "/autoresponders/1", {"id": "1"}),
])
@pytest.mark.parametrize("authorization", [None, "Basic bm9ib2R5QGV4YW1wbGUuY29tOndyb25n", "Bearer nope"])
def test_unauthenticated(aws, function, method, path, params, authorization):
    status, _, body = invoke(function, http_event(method, path, path_params=params, body={},
                                                  authorization=authorization))
    assert (status, body) == (401, {"status": "error", "message": "Authentication failed"})


class TestSampleEvents:
    """Every events/vipecloud_*.json is a request its handler answers (``sam local invoke -e``)."""

    def test_list_get_update(self, vip):
        seeded = seed_sample("vipecloud_create_automation", vip, {"contact_list_id": {123: vip["list"]},
                                                                  "template_id": {456: vip["template"]}})
        created = invoke("vipecloud_create_automation", seeded)[2]
        for name in ("vipecloud_list_automations", "vipecloud_list_autoresponders"):
            event = sample_event(name)
            event["headers"]["authorization"] = vip["auth"]
            assert invoke("vipecloud_list_automations", event)[2] == [created]
        event = sample_event("vipecloud_get_automation")
        event["headers"]["authorization"] = vip["auth"]
        event["pathParameters"]["id"] = str(created["id"])
        assert invoke("vipecloud_get_automation", event)[2] == created
        event = seed_sample("vipecloud_update_automation", vip, {"contact_list_id": {123: vip["list"]},
                                                                 "template_id": {456: vip["template"]}})
        event["pathParameters"]["id"] = str(created["id"])
        status, _, body = invoke("vipecloud_update_automation", event)
        assert status == 200 and body["delay_days"] == 1 and json.loads(body["schedule_data"])["contact_trigger_hours"] == 1


@pytest.mark.parametrize("delay", [{"delay_min": 10 ** 30}, {"delay_days": "9" * 38}, {"delay_hours": 10 ** 18}])
def test_absurd_delays_are_refused_not_overflowed(vip, delay):
    status, _, body = create(vip, contact_rule(vip, **delay))
    assert status == 422 and body["status"] == "error" and "365 days" in body["message"]
