"""The native API's OpenAPI document as the local runtime serves it, and schemathesis checking the
whole native API against it over HTTP."""
from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from automations_local import openapi
from automations_local.template import load_template

pytestmark = pytest.mark.e2e

# Checks about something else than the document: API Gateway answers an undeclared method with 404
# (the check wants 405), and the document gives types and sizes while the domain decides what a
# valid record is (a schema-valid email may still be refused with a documented 422).
NOT_SCHEMA_CONFORMANCE = {"unsupported_method": {"enabled": False}, "positive_data_acceptance": {"enabled": False}}
# Examples per operation in the fuzzing phase; the examples and coverage phases add their own few
# cases. The two runs below take about half a minute on 2 cores. CI's runs are derandomized (the
# same cases every time, so a red build is this change's doing); set SCHEMATHESIS_EXAMPLES to a
# larger number, and SCHEMATHESIS_RANDOM=1, for a deeper, different search.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "4"))
DERANDOMIZE = os.environ.get("SCHEMATHESIS_RANDOM") != "1"


def test_serves_the_checked_in_document_without_credentials(local_runtime):
    response = local_runtime.request("GET", "/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    checked_in = json.loads(openapi.document_path(load_template()).read_text(encoding="utf-8"))
    assert response.json() == checked_in


def test_docs_page_loads_swagger_ui_from_the_runtime_itself(local_runtime):
    page = local_runtime.request("GET", "/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'url: "/openapi.json"' in page.text
    for asset, content_type in (("/docs/swagger-ui-bundle.js", "application/javascript"),
                                ("/docs/swagger-ui.css", "text/css")):
        assert f'"{asset}"' in page.text
        served = local_runtime.request("GET", asset)
        assert served.status_code == 200 and served.headers["content-type"] == content_type
        assert len(served.content) > 10_000  # the real bundle, not a placeholder


def test_only_get_is_served_on_the_local_pages(local_runtime):
    # Anything else falls through to the API's routes, where nothing is declared at these paths.
    assert local_runtime.request("POST", "/openapi.json").status_code == 404


@pytest.mark.parametrize("method", ["TRACE", "QUERY"])
def test_any_method_reaches_route_matching_as_in_api_gateway(local_runtime, method):
    response = local_runtime.request(method, "/v1/contacts")  # the native catch-all's answer
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.fixture(scope="session")
def api_key(local_runtime) -> str:
    return local_runtime.create_account("Schemathesis")["api_key"]  # its own account: other tests' data stays put


@pytest.fixture
def leave_no_automations(local_runtime):
    """Accounts (their Authorization) whose automations go when the test ends: other tests move this
    runtime's clock, and a year's jump would fire a generated daily rule 365 times."""
    used: set[str] = set()
    yield used
    for authorization in used:
        headers = {"Authorization": authorization}
        while automations := local_runtime.request("GET", "/v1/automations", params={"limit": 100},
                                                    headers=headers).json()["automations"]:
            for automation in automations:
                deleted = local_runtime.request("DELETE", f"/v1/automations/{automation['id']}", headers=headers)
                assert deleted.status_code == 204, deleted.text


# Built from the handlers, as the runtime builds the document it serves (which the first test holds
# to the checked-in one). Loaded at collection, before any runtime runs: schemathesis' loader from a
# fixture fails on this pytest (it sets a Node attribute pytest 9 no longer has).
native_api = schemathesis.openapi.from_dict(
    openapi.build(load_template()),
    config=schemathesis.config.SchemathesisConfig.from_dict({
        "generation": {"max-examples": MAX_EXAMPLES}, "checks": NOT_SCHEMA_CONFORMANCE}))


@native_api.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_native_api_conforms_to_its_document(case, local_runtime, api_key, leave_no_automations):
    """No 5xx, and every answer (status, content type, body) is one the document allows. Generated
    ids name nothing, so this mostly meets the 404s of the operations on one record."""
    leave_no_automations.add(f"Bearer {api_key}")
    case.call_and_validate(base_url=local_runtime.base_url, headers={"Authorization": f"Bearer {api_key}"})


def _records(local_runtime) -> tuple[str, dict[str, str]]:
    """A fresh account's key, and one record of each kind keyed by the path parameter naming it."""
    headers = {"Authorization": f"Bearer {local_runtime.create_account('Schemathesis records')['api_key']}"}

    def create(path: str, body: dict) -> dict:
        response = local_runtime.request("POST", path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    contact = create("/v1/contacts", {"email": "someone@example.com", "first_name": "Some"})
    user = create("/v1/users", {"name": "Agent", "email": "agent@example.com"})
    ids = {
        "contact_uuid": contact["uuid"],
        "list_id": create("/v1/contact-lists", {"name": "Customers"})["id"],
        "community_id": create("/v1/communities", {"name": "Club", "suite_type": "community"})["id"],
        "field_id": create("/v1/custom-fields", {"name": "Plan", "scope": "contact", "type": "text"})["id"],
        "template_id": create("/v1/templates", {"title": "Hello", "type": "text", "body": "Hi {{ name }}"})["id"],
        "user_id": user["id"],
        "group_id": create("/v1/groups", {"name": "Support", "user_ids": [user["id"]]})["id"],
        "webhook_id": create("/v1/webhooks", {"name": "Hook", "url": "http://127.0.0.1:9/hook"})["id"],
    }
    create(f"/v1/contact-lists/{ids['list_id']}/members", {"contact_uuids": [contact["uuid"]]})
    create(f"/v1/communities/{ids['community_id']}/members", {"contact_uuids": [contact["uuid"]]})
    return headers["Authorization"], {name: str(value) for name, value in ids.items()}


@pytest.fixture(scope="session")
def shared_records(local_runtime):
    return _records(local_runtime)


@pytest.fixture
def own_records(local_runtime):
    return _records(local_runtime)


@native_api.include(path_regex=r"\{").parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_native_api_conforms_on_existing_records(case, local_runtime, request, leave_no_automations):
    """The same, with the path naming records that exist (parameters with no record made here, such
    as run ids, stay generated). A DELETE gets records of its own: the others' stay in place."""
    authorization, ids = request.getfixturevalue("own_records" if case.method == "DELETE" else "shared_records")
    leave_no_automations.add(authorization)
    case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(base_url=local_runtime.base_url, headers={"Authorization": authorization})
