"""Every Zendesk automations handler, driven by the sample events in events/."""
import json
import threading

import pytest
from support import basic_auth, http_event, invoke, sample_event
from zendesk_pages import cursor_pages

RULE = {
    "title": "Escalate open tickets after 24 hours",
    "all": [{"field": "status", "operator": "is", "value": "open"},
            {"field": "OPEN", "operator": "greater_than", "value": 24}],
    "actions": [{"field": "priority", "value": "high"}],
}


def event_for(name, auth, **changes):
    event = sample_event(name)
    event["headers"]["authorization"] = auth
    for key, value in changes.items():
        event[key] = value
    return event


def create(auth, rule=RULE, **overrides):
    body = {"automation": {**rule, **overrides}}
    return invoke("zendesk_create_automation",
                  http_event("POST", "/api/v2/automations.json", body=body, authorization=auth))


def show(auth, automation_id):
    return invoke("zendesk_show_automation", http_event(
        "GET", f"/api/v2/automations/{automation_id}.json", route="/api/v2/automations/{id}",
        path_params={"id": f"{automation_id}.json"}, authorization=auth))


class TestSampleEvents:
    """Each file in events/ is a valid request for its handler (also usable with sam local invoke -e)."""

    def test_list(self, account):
        status, _, body = invoke("zendesk_list_automations", event_for("zendesk_list_automations", account[2]))
        assert status == 200
        assert [a["title"] for a in body["automations"]] == ["Close ticket 4 days after status is set to solved"]
        assert body["meta"] == {"has_more": False, "after_cursor": body["meta"]["after_cursor"],
                                "before_cursor": body["meta"]["before_cursor"]}
        assert body["automations"][0]["url"] == "https://automations.example.com/api/v2/automations/1.json"

    def test_show_the_default_rule(self, account):
        status, _, body = invoke("zendesk_show_automation", event_for("zendesk_show_automation", account[2]))
        assert status == 200
        a = body["automation"]
        assert a["id"] == 1 and a["default"] is True and a["active"] is True and a["position"] == 1
        assert a["conditions"] == {"all": [{"field": "status", "operator": "is", "value": "solved"},
                                           {"field": "SOLVED", "operator": "greater_than", "value": "96"}],
                                   "any": []}
        assert a["raw_title"] == a["title"]
        assert a["created_at"].endswith("Z") and len(a["created_at"]) == 20

    def test_create(self, account):
        status, headers, body = invoke("zendesk_create_automation",
                                       event_for("zendesk_create_automation", account[2]))
        assert status == 201
        assert headers["Location"] == f"https://automations.example.com/api/v2/automations/{body['automation']['id']}.json"
        assert body["automation"]["conditions"]["all"][1] == {"field": "OPEN", "operator": "greater_than",
                                                              "value": "24"}

    def test_create_many(self, account):
        status, _, body = invoke("zendesk_create_many_automations",
                                 event_for("zendesk_create_many_automations", account[2]))
        assert status == 200 and len(body["automations"]) == 1 and body["automations"][0]["id"] == 2

    def test_update(self, account):
        status, _, body = invoke("zendesk_update_automation", event_for("zendesk_update_automation", account[2]))
        assert status == 200
        assert body["automation"]["title"] == "Close solved tickets after 4 days"
        assert body["automation"]["actions"] == [{"field": "status", "value": "closed"}]

    def test_update_many(self, account):
        status, _, body = invoke("zendesk_update_many_automations",
                                 event_for("zendesk_update_many_automations", account[2]))
        assert status == 200
        assert body["automations"][0]["position"] == 3 and body["automations"][0]["active"] is False

    def test_delete(self, account):
        status, _, body = invoke("zendesk_delete_automation", event_for("zendesk_delete_automation", account[2]))
        assert (status, body) == (204, None)
        assert show(account[2], 1)[0] == 404

    def test_destroy_many(self, account):
        status, _, _ = invoke("zendesk_destroy_many_automations",
                              event_for("zendesk_destroy_many_automations", account[2]))
        assert status == 204
        assert show(account[2], 1)[0] == 404

    def test_search(self, account):
        status, _, body = invoke("zendesk_search_automations", event_for("zendesk_search_automations", account[2]))
        assert status == 200 and body["count"] == 1

    def test_list_active(self, account):
        create(account[2], active=False)
        status, _, body = invoke("zendesk_list_active_automations",
                                 event_for("zendesk_list_active_automations", account[2]))
        assert status == 200 and [a["id"] for a in body["automations"]] == [1]


class TestAuthentication:
    UNAUTHENTICATED = {"error": "Couldn't authenticate you"}

    @pytest.mark.parametrize("header", [
        None, "", "Basic", "Basic !!!notbase64", "Basic " + "bm9jb2xvbg==", "Bearer", "Token abc",
    ])
    def test_unreadable_credentials(self, account, header):
        status, headers, body = invoke("zendesk_list_automations",
                                       http_event("GET", "/api/v2/automations.json", authorization=header))
        assert (status, body) == (401, self.UNAUTHENTICATED)
        assert headers["WWW-Authenticate"] == 'Basic realm="Web Password"'

    def test_wrong_key_and_wrong_email(self, account):
        acct, key, _ = account
        for header in (basic_auth(acct.email, key + "x"), basic_auth("intruder@evil.test", key),
                       "Bearer " + key[:-1]):
            status, _, body = invoke("zendesk_list_automations",
                                     http_event("GET", "/api/v2/automations.json", authorization=header))
            assert (status, body) == (401, self.UNAUTHENTICATED)

    @pytest.mark.parametrize("style", ["token", "password", "bearer"])
    def test_every_accepted_style(self, account, style):
        acct, key, _ = account
        header = {"token": basic_auth(acct.email, key), "password": basic_auth(acct.email, key, token_style=False),
                  "bearer": f"Bearer {key}"}[style]
        status, _, _ = invoke("zendesk_list_automations",
                              http_event("GET", "/api/v2/automations.json", authorization=header))
        assert status == 200

    def test_email_is_case_insensitive(self, account):
        acct, key, _ = account
        status, _, _ = invoke("zendesk_list_automations", http_event(
            "GET", "/api/v2/automations.json", authorization=basic_auth(acct.email.upper(), key)))
        assert status == 200

    def test_revoked_key_stops_working(self, account, monkeypatch):
        from automations.bootstrap import services
        from automations.surfaces import authorizer

        acct, _, _ = account
        key_id, key = services().accounts.create_key(acct.id)
        header = basic_auth(acct.email, key)
        assert invoke("zendesk_list_automations", http_event("GET", "/api/v2/automations.json",
                                                             authorization=header))[0] == 200
        services().accounts.revoke_key(key_id)
        authorizer.forget_cached()  # a warm container trusts a key for AUTH_CACHE_SECONDS
        assert invoke("zendesk_list_automations", http_event("GET", "/api/v2/automations.json",
                                                             authorization=header))[0] == 401

    def test_handler_without_authorizer_context_is_refused(self, account):
        from support import load_handler

        response = load_handler("zendesk_list_automations")(sample_event("zendesk_list_automations"), None)
        assert response["statusCode"] == 401


class TestValidation:
    @pytest.mark.parametrize("overrides, field, fragment", [
        ({"title": ""}, "title", "Title: cannot be blank"),
        ({"title": "   "}, "title", "Title: cannot be blank"),
        ({"title": None}, "title", "Title: cannot be blank"),
        ({"title": 42}, "title", "Title: must be a string"),
        ({"actions": []}, "base", "at least one action"),
        ({"active": "yes"}, "active", "Active: must be true or false"),
        ({"position": -1}, "position", "Position: must be a non-negative integer"),
        ({"position": "3"}, "position", "Position: must be a non-negative integer"),
        ({"actions": {"field": "status"}}, "actions", "Actions: must be a list"),
        ({"actions": [{"field": "status"}]}, "actions", "each action needs a field and a value"),
        ({"actions": [{"field": "teleport", "value": "x"}]}, "base", 'unknown field "teleport"'),
        ({"actions": [{"field": "status", "value": "new"}]}, "base", 'value "new" for field "status"'),
        ({"actions": [{"field": "notification_user", "value": "requester_id"}]}, "base", "list of 3 strings"),
        ({"actions": [{"field": "notification_user", "value": ["nobody", "s", "b"]}]}, "base", "recipient"),
        ({"all": [{"field": "status", "operator": "is", "value": "open"}]}, "base", "time-based condition"),
        ({"any": [{"field": "NEW", "operator": "greater_than", "value": "2"}]}, "base", 'only allowed in "all"'),
        ({"all": RULE["all"] + [{"field": "colour", "operator": "is", "value": "red"}]}, "base",
         'unknown field "colour"'),
        ({"all": RULE["all"] + [{"field": "status", "operator": "includes", "value": "open"}]}, "base",
         'operator "includes" is not valid'),
        ({"all": [RULE["all"][0], {"field": "OPEN", "operator": "greater_than", "value": "1.5"}]}, "base",
         "whole, non-negative number of hours"),
        ({"all": [RULE["all"][0], {"field": "OPEN", "operator": "greater_than", "value": "-3"}]}, "base",
         "whole, non-negative number of hours"),
        ({"all": [RULE["all"][0], {"field": "OPEN", "operator": "greater_than", "value": True}]}, "base",
         "must be a string"),
        ({"all": RULE["all"] + [{"field": "priority", "operator": "is", "value": "extreme"}]}, "base",
         'value "extreme" for field "priority"'),
        ({"all": RULE["all"] + [{"field": "group_id", "operator": "is", "value": "sales"}]}, "base",
         "numeric id"),
        ({"all": "status is open"}, "conditions", '"all" must be a list'),
        ({"all": [["status", "is", "open"]]}, "conditions", "needs a field, an operator and a value"),
        ({"conditions": []}, "conditions", "must be an object"),
    ])
    def test_rule_is_refused_with_zendesk_422(self, account, overrides, field, fragment):
        status, _, body = create(account[2], **overrides)
        assert status == 422
        assert body["error"] == "RecordInvalid" and body["description"] == "Record validation errors"
        assert any(fragment in d["description"] for d in body["details"][field]), body

    def test_a_time_condition_alone_is_enough_as_in_real_zendesk(self, account):
        # Zendesk answered 201 to exactly this (recorded by zenpy's project): its documented
        # "also a condition on status, type, group, assignee or requester" is not enforced.
        status, _, body = create(account[2], all=[{"field": "PENDING", "operator": "is", "value": "100"}],
                                 actions=[{"field": "status", "value": "open"}])
        assert status == 201, body
        assert body["automation"]["conditions"] == {
            "all": [{"field": "PENDING", "operator": "is", "value": "100"}], "any": []}

    def test_all_problems_are_reported_together(self, account):
        status, _, body = create(account[2], title="", actions=[], all=[])
        assert status == 422
        assert len(body["details"]["base"]) == 2 and body["details"]["title"]  # no action, no time condition

    def test_rule_over_65_kb(self, account):
        big = [{"field": "current_tags", "operator": "includes", "value": "x" * 70_000}]
        status, _, body = create(account[2], any=big)
        assert status == 422 and "smaller than 65 KB" in body["details"]["base"][0]["description"]

    def test_identical_active_automation(self, account):
        first = create(account[2])[2]["automation"]
        status, _, body = create(account[2], title="Same rule, another title")
        assert status == 422
        assert f"(id {first['id']})" in body["details"]["base"][0]["description"]
        # inactive copies are allowed, and may be activated only once the original is not active
        copy = create(account[2], title="Copy", active=False)
        assert copy[0] == 201

    def test_identical_in_the_same_create_many(self, account):
        status, _, body = invoke("zendesk_create_many_automations", http_event(
            "POST", "/api/v2/automations/create_many.json", body={"automations": [RULE, RULE]},
            authorization=account[2]))
        assert status == 422 and "identical" in body["details"]["base"][0]["description"]

    def test_activating_a_copy_of_an_active_rule_is_refused(self, account):
        create(account[2])
        copy = create(account[2], title="Copy", active=False)[2]["automation"]
        status, _, body = invoke("zendesk_update_automation", http_event(
            "PUT", f"/api/v2/automations/{copy['id']}.json", route="/api/v2/automations/{id}",
            path_params={"id": str(copy["id"])}, body={"automation": {"active": True}}, authorization=account[2]))
        assert status == 422 and "already exists" in body["details"]["base"][0]["description"]


class TestMalformedRequests:
    @pytest.mark.parametrize("raw, error", [
        ("{not json", "InvalidJSON"),
        ("", "InvalidJSON"),
        ('{"title": "no envelope"}', "ParameterMissing"),
        ("[1, 2]", "ParameterMissing"),
        ('"just a string"', "ParameterMissing"),
    ])
    def test_bad_bodies_get_400(self, account, raw, error):
        status, _, body = invoke("zendesk_create_automation", http_event(
            "POST", "/api/v2/automations.json", raw_body=raw, authorization=account[2]))
        assert status == 400 and body["error"] == error and body["description"]

    def test_envelope_that_is_not_an_object(self, account):
        status, _, body = invoke("zendesk_create_automation", http_event(
            "POST", "/api/v2/automations.json", body={"automation": [1]}, authorization=account[2]))
        assert status == 422 and body["error"] == "RecordInvalid"

    def test_oversized_body(self, account):
        status, _, body = invoke("zendesk_create_automation", http_event(
            "POST", "/api/v2/automations.json", raw_body='{"automation": "' + "x" * (1024 * 1024) + '"}',
            authorization=account[2]))
        assert status == 413 and body["error"] == "RequestTooLarge"

    def test_base64_body_is_decoded(self, account):
        import base64

        event = http_event("POST", "/api/v2/automations.json", authorization=account[2])
        event["body"] = base64.b64encode(json.dumps({"automation": RULE}).encode()).decode()
        event["isBase64Encoded"] = True
        assert invoke("zendesk_create_automation", event)[0] == 201


class TestNotFoundAndTenancy:
    NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}

    @pytest.mark.parametrize("raw_id", ["999", "999.json", "abc", "1.xml", "-1", "1e3", "9" * 30])
    def test_unknown_or_malformed_ids(self, account, raw_id):
        status, _, body = invoke("zendesk_show_automation", http_event(
            "GET", f"/api/v2/automations/{raw_id}", route="/api/v2/automations/{id}",
            path_params={"id": raw_id}, authorization=account[2]))
        assert (status, body) == (404, self.NOT_FOUND)

    def test_foreign_account_ids_answer_exactly_like_missing_ones(self, account):
        from automations.bootstrap import services

        other, other_key = services().accounts.create_account("Other", "other@else.test")
        mine = create(account[2])[2]["automation"]["id"]
        theirs = basic_auth(other.email, other_key)
        assert show(theirs, mine) == show(theirs, 999_999)
        assert show(theirs, mine)[0] == 404
        for fn, method in [("zendesk_update_automation", "PUT"), ("zendesk_delete_automation", "DELETE")]:
            status, _, body = invoke(fn, http_event(
                method, f"/api/v2/automations/{mine}.json", route="/api/v2/automations/{id}",
                path_params={"id": str(mine)}, body={"automation": {"title": "hijack"}}, authorization=theirs))
            assert (status, body) == (404, self.NOT_FOUND)
        status, _, _ = invoke("zendesk_destroy_many_automations", http_event(
            "DELETE", "/api/v2/automations/destroy_many.json", query={"ids": str(mine)}, authorization=theirs))
        assert status == 404
        assert show(account[2], mine)[0] == 200 and show(account[2], mine)[2]["automation"]["title"] == RULE["title"]
        listed = invoke("zendesk_list_automations", http_event("GET", "/api/v2/automations.json",
                                                               authorization=theirs))[2]
        assert [a["title"] for a in listed["automations"]] == ["Close ticket 4 days after status is set to solved"]


class TestUpdates:
    def put(self, auth, automation_id, body):
        return invoke("zendesk_update_automation", http_event(
            "PUT", f"/api/v2/automations/{automation_id}.json", route="/api/v2/automations/{id}",
            path_params={"id": f"{automation_id}.json"}, body=body, authorization=auth))

    def test_partial_update_keeps_the_rest(self, account):
        created = create(account[2])[2]["automation"]
        status, _, body = self.put(account[2], created["id"], {"automation": {"id": created["id"], "title": "Renamed"}})
        assert status == 200
        updated = body["automation"]
        assert updated["title"] == "Renamed" and updated["raw_title"] == "Renamed"
        assert updated["conditions"] == created["conditions"] and updated["actions"] == created["actions"]

    def test_conditions_replace_both_arrays(self, account):
        created = create(account[2], any=[{"field": "priority", "operator": "is", "value": "low"}])[2]["automation"]
        assert created["conditions"]["any"]
        new_all = [{"field": "status", "operator": "is", "value": "pending"},
                   {"field": "PENDING", "operator": "greater_than", "value": "48"}]
        body = self.put(account[2], created["id"], {"automation": {"conditions": {"all": new_all}}})[2]
        assert body["automation"]["conditions"] == {"all": new_all, "any": []}

    def test_update_can_make_a_rule_invalid_only_with_422(self, account):
        created = create(account[2])[2]["automation"]
        status, _, body = self.put(account[2], created["id"], {"automation": {"actions": []}})
        assert status == 422
        assert show(account[2], created["id"])[2]["automation"]["actions"] == RULE["actions"]

    def test_update_many_takes_only_id_position_active(self, account):
        a = create(account[2])[2]["automation"]
        status, _, body = invoke("zendesk_update_many_automations", http_event(
            "PUT", "/api/v2/automations/update_many.json",
            body={"automations": [{"id": a["id"], "position": 9, "active": False, "title": "ignored"}]},
            authorization=account[2]))
        assert status == 200
        assert body["automations"][0]["title"] == RULE["title"]
        assert (body["automations"][0]["position"], body["automations"][0]["active"]) == (9, False)
        # positions handed out later come after the one set
        assert create(account[2], title="Next", active=False)[2]["automation"]["position"] == 10

    @pytest.mark.parametrize("body, status", [
        ({"automations": [{"id": 999, "active": False}]}, 404),
        ({"automations": [{"position": 1}]}, 422),
        ({"automations": [{"id": "1", "position": 1}]}, 422),
        ({"automations": [{"id": 1, "active": "no"}]}, 422),
        ({"automations": {"id": 1}}, 422),
        ({"automation": []}, 400),
        ({"automations": [{"id": 1}] * 101}, 400),
    ])
    def test_update_many_bad_input(self, account, body, status):
        got = invoke("zendesk_update_many_automations", http_event(
            "PUT", "/api/v2/automations/update_many.json", body=body, authorization=account[2]))
        assert got[0] == status, got
        assert show(account[2], 1)[2]["automation"]["active"] is True

    def test_update_many_unknown_id_changes_nothing(self, account):
        status, _, _ = invoke("zendesk_update_many_automations", http_event(
            "PUT", "/api/v2/automations/update_many.json",
            body={"automations": [{"id": 1, "active": False}, {"id": 404, "active": False}]},
            authorization=account[2]))
        assert status == 404
        assert show(account[2], 1)[2]["automation"]["active"] is True


class TestDestroyMany:
    def destroy(self, auth, ids):
        return invoke("zendesk_destroy_many_automations", http_event(
            "DELETE", "/api/v2/automations/destroy_many.json", query={"ids": ids} if ids is not None else None,
            authorization=auth))

    def test_unknown_id_deletes_nothing(self, account):
        a = create(account[2])[2]["automation"]
        assert self.destroy(account[2], f"{a['id']},777")[0] == 404
        assert show(account[2], a["id"])[0] == 200

    @pytest.mark.parametrize("ids, status, error", [
        (None, 400, "ParameterMissing"), ("", 400, "ParameterMissing"), ("1,x", 400, "InvalidValue"),
        (",".join(str(i) for i in range(1, 102)), 400, "TooManyValues"),
    ])
    def test_bad_ids(self, account, ids, status, error):
        got = self.destroy(account[2], ids)
        assert (got[0], got[2]["error"]) == (status, error)

    def test_deletes_all_listed(self, account):
        ids = [create(account[2], title=f"r{i}", actions=[{"field": "priority", "value": p}])[2]["automation"]["id"]
               for i, p in enumerate(["low", "normal"])]
        assert self.destroy(account[2], ",".join(map(str, ids)))[0] == 204
        assert all(show(account[2], i)[0] == 404 for i in ids)


class TestListing:
    def listing(self, auth, query, path="/api/v2/automations.json"):
        return invoke("zendesk_list_automations", http_event("GET", path, query=query, authorization=auth))

    @pytest.fixture
    def many(self, account):
        from automations.bootstrap import services
        from automations.service.automations import DEFAULT_CLOSE_RULE
        from automations.domain.model import Action

        drafts = [DEFAULT_CLOSE_RULE.__class__(
            title=f"Rule {i:02d}", conditions=DEFAULT_CLOSE_RULE.conditions,
            actions=(Action("priority", "high"), Action("current_tags", f"t{i}"))) for i in range(11)]
        services().automations.create_many(account[0].id, drafts)
        return account[2]

    def test_offset_pages(self, many):
        status, _, body = self.listing(many, {"per_page": "5", "page": "2", "sort_by": "position"})
        assert status == 200 and body["count"] == 12
        assert [a["id"] for a in body["automations"]] == [6, 7, 8, 9, 10]
        assert body["next_page"] == \
            "https://automations.example.com/api/v2/automations.json?per_page=5&sort_by=position&page=3"
        assert body["previous_page"].endswith("page=1")
        last = self.listing(many, {"per_page": "5", "page": "3"})[2]
        assert last["next_page"] is None and len(last["automations"]) == 2

    def test_per_page_is_capped_at_100(self, many):
        body = self.listing(many, {"per_page": "500"})[2]
        assert len(body["automations"]) == 12 and body["next_page"] is None

    def test_cursor_pages_forward_and_back(self, many):
        pages = cursor_pages(lambda query: self.listing(many, query), {"page[size]": "5"})
        assert all("count" not in page for page in pages)
        assert all(page["links"]["next"].startswith("https://automations.example.com/api/v2/automations.json?")
                   for page in pages[:-1])
        assert [a["id"] for page in pages for a in page["automations"]] == list(range(1, 13))
        body = pages[-1]
        back = self.listing(many, {"page[size]": "5", "page[before]": body["meta"]["before_cursor"]})[2]
        assert [a["id"] for a in back["automations"]] == [6, 7, 8, 9, 10] and back["meta"]["has_more"] is True

    @pytest.mark.parametrize("query, error", [
        ({"page[size]": "101"}, "InvalidPaginationParameter"),
        ({"page[size]": "0"}, "InvalidPaginationParameter"),
        ({"page[size]": "ten"}, "InvalidPaginationParameter"),
        ({"page[after]": "!!!"}, "InvalidPaginationParameter"),
        ({"page[after]": "eyJhIjoxfQ"}, "InvalidPaginationParameter"),
        ({"page[after]": "WzFd", "page[before]": "WzFd"}, "InvalidPaginationParameter"),
        ({"page": "0"}, "InvalidPaginationParameter"),
        ({"page[size]": "5", "page": "-2"}, "InvalidPaginationParameter"),  # unused, still refused
        ({"page[size]": "5", "per_page": "0"}, "InvalidPaginationParameter"),
        ({"page[size]": "", "per_page": ""}, "InvalidPaginationParameter"),  # empty is not absent
        ({"page": ""}, "InvalidPaginationParameter"),
        ({"sort_by": "colour"}, "InvalidValue"),
        ({"sort_order": "sideways"}, "InvalidValue"),
        ({"active": "maybe"}, "InvalidValue"),
    ])
    def test_bad_list_parameters(self, many, query, error):
        status, _, body = self.listing(many, query)
        assert (status, body["error"]) == (400, error)

    def test_sorting(self, many):
        alpha = self.listing(many, {"sort_by": "alphabetical"})[2]["automations"]
        assert [a["title"] for a in alpha] == sorted(a["title"] for a in alpha)
        newest = self.listing(many, {"sort_by": "created_at"})[2]["automations"]
        assert newest[0]["id"] == 12  # desc by default for timestamps
        oldest = self.listing(many, {"sort_by": "created_at", "sort_order": "asc"})[2]["automations"]
        assert oldest[0]["id"] == 1
        reverse = self.listing(many, {"sort_order": "desc"})[2]["automations"]
        assert [a["id"] for a in reverse] == list(range(12, 0, -1))

    def test_active_filter(self, many):
        invoke("zendesk_update_many_automations", http_event(
            "PUT", "/api/v2/automations/update_many.json",
            body={"automations": [{"id": 2, "active": False}, {"id": 3, "active": False}]}, authorization=many))
        assert self.listing(many, {"active": "false"})[2]["count"] == 2
        assert self.listing(many, {"active": "true"})[2]["count"] == 10

    def test_search(self, many):
        def search(query):
            return invoke("zendesk_search_automations", http_event(
                "GET", "/api/v2/automations/search.json", query=query, authorization=many))

        body = search({"query": "rule 1"})[2]
        assert [a["title"] for a in body["automations"]] == ["Rule 10", "Rule 01"]  # prefix beats word start
        assert search({"query": "Rule 07"})[2]["automations"][0]["title"] == "Rule 07"
        assert search({"query": "close ticket"})[2]["count"] == 1
        assert search({"query": "RULE", "sort_by": "alphabetical", "per_page": "3"})[2]["next_page"]
        missing = search({})
        assert missing[0] == 400 and missing[2]["error"] == "ParameterMissing"
        assert search({"query": "x", "sort_by": "usage_9y"})[0] == 400


def test_concurrent_creates_get_distinct_ids_and_positions(account):
    from automations.bootstrap import services
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions

    conditions = Conditions(all=(Condition("status", "is", "open"), Condition("OPEN", "greater_than", "5")))
    results, errors = [], []

    def worker(i):
        try:
            results.append(services().automations.create(account[0].id, AutomationDraft(
                title=f"c{i}", conditions=conditions, actions=(Action("current_tags", f"tag{i}"),))))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({a.id for a in results}) == 16 and len({a.position for a in results}) == 16


def test_an_update_that_keeps_losing_to_concurrent_ones_is_a_409(account, monkeypatch):
    """Each attempt finds the automation changed since it read it (as when many partial updates
    race): Zendesk's 409, as tickets answer, not a validation error."""
    from automations.adapters.dynamo import DynamoAutomationStore
    from automations.store_refusals import StaleWrite

    def always_stale(self, old, new, max_active):
        raise StaleWrite("changed meanwhile")

    monkeypatch.setattr(DynamoAutomationStore, "replace", always_stale)
    status, _, body = invoke("zendesk_update_automation", http_event(
        "PUT", "/api/v2/automations/1.json", route="/api/v2/automations/{id}", path_params={"id": "1.json"},
        body={"automation": {"title": "Renamed"}}, authorization=account[2]))
    assert (status, body["error"]) == (409, "Conflict")
    monkeypatch.undo()
    assert show(account[2], 1)[2]["automation"]["title"] == "Close ticket 4 days after status is set to solved"
