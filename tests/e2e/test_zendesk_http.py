"""The Zendesk automations API over real HTTP on the local runtime."""
import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.e2e

RULE = {"title": "Escalate", "all": [{"field": "status", "operator": "is", "value": "open"},
                                     {"field": "OPEN", "operator": "greater_than", "value": "12"}],
        "actions": [{"field": "priority", "value": "urgent"}]}


def auth_header(account):
    return "Basic " + base64.b64encode(f"{account['email']}/token:{account['api_key']}".encode()).decode()


@pytest.fixture
def account(local_runtime):
    account = local_runtime.create_account("HTTP Co")
    headers = {"Authorization": auth_header(account)}

    def call(method, path, **kwargs):
        return local_runtime.request(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

    account["call"] = call
    return account


def test_unauthenticated_on_the_wire(local_runtime):
    response = local_runtime.request("GET", "/api/v2/automations.json")
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Web Password"'


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v2/automations", None), ("GET", "/api/v2/automations.json", None),
    ("GET", "/api/v2/automations/active", None), ("GET", "/api/v2/automations/active.json", None),
    ("GET", "/api/v2/automations/search?query=close", None), ("GET", "/api/v2/automations/search.json?query=close", None),
    ("GET", "/api/v2/automations/1", None), ("GET", "/api/v2/automations/1.json", None),
    ("PUT", "/api/v2/automations/1", {"automation": {"title": "Renamed"}}),
    ("PUT", "/api/v2/automations/1.json", {"automation": {"title": "Renamed"}}),
    ("PUT", "/api/v2/automations/update_many", {"automations": [{"id": 1, "position": 4}]}),
    ("PUT", "/api/v2/automations/update_many.json", {"automations": [{"id": 1, "position": 4}]}),
])
def test_both_path_spellings(account, method, path, body):
    response = account["call"](method, path, json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/api/v2/automations", "/api/v2/automations.json"])
def test_create_and_delete_with_both_spellings(account, path):
    created = account["call"]("POST", path, json={"automation": RULE})
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/api/v2/automations/{created.json()['automation']['id']}.json")
    many = account["call"]("POST", path.replace("automations", "automations/create_many"),
                           json={"automations": [{**RULE, "title": "Other", "actions": [
                               {"field": "priority", "value": "low"}]}]})
    assert many.status_code == 200
    ids = [created.json()["automation"]["id"], many.json()["automations"][0]["id"]]
    delete = account["call"]("DELETE", f"{path.replace('automations', 'automations/' + str(ids[0]))}",
                             json={"automation": {"id": ids[0]}})
    assert delete.status_code == 204 and delete.content == b""
    destroy = account["call"]("DELETE", path.replace("automations", "automations/destroy_many") + f"?ids={ids[1]}")
    assert destroy.status_code == 204


def test_links_point_back_at_the_host_the_request_came_to(account, local_runtime):
    port = local_runtime.base_url.rsplit(":", 1)[1]
    response = account["call"]("GET", "/api/v2/automations.json?page[size]=1",
                               headers={"Host": f"localhost:{port}"})
    body = response.json()
    assert body["links"]["next"].startswith(f"http://localhost:{port}/api/v2/automations.json?")
    assert body["automations"][0]["url"] == f"http://localhost:{port}/api/v2/automations/1.json"


@pytest.mark.parametrize("data, status, error", [
    (b"{bad json", 400, "InvalidJSON"),
    (b"\xff\xfe\x00", 400, "InvalidJSON"),
    (b'{"automation": ' + b'"' + b"x" * (1024 * 1024 + 10) + b'"}', 413, "RequestTooLarge"),
])
def test_bad_bodies(account, data, status, error):
    response = account["call"]("POST", "/api/v2/automations.json", data=data,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == status and response.json()["error"] == error


def test_concurrent_creates_over_http(account):
    def create(i):
        return account["call"]("POST", "/api/v2/automations.json", json={"automation": {
            **RULE, "title": f"Parallel {i}", "actions": [{"field": "current_tags", "value": f"p{i}"}]}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(24)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    automations = [r.json()["automation"] for r in responses]
    assert len({a["id"] for a in automations}) == 24 and len({a["position"] for a in automations}) == 24


def test_concurrent_identical_creates_over_http(account):
    barrier = threading.Barrier(6)

    def create(_):
        barrier.wait()
        return account["call"]("POST", "/api/v2/automations.json", json={"automation": {**RULE, "title": "Twin"}})

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(r.status_code for r in pool.map(create, range(6)))
    assert statuses == [201, 422, 422, 422, 422, 422]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(["title", "all", "any", "actions", "conditions", "field",
                                                "operator", "value", "active", "position", "id"]), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, method_path=st.sampled_from([
    ("POST", "/api/v2/automations.json"), ("PUT", "/api/v2/automations/1.json"),
    ("PUT", "/api/v2/automations/update_many.json"), ("POST", "/api/v2/automations/create_many.json")]))
def test_no_input_produces_a_server_error(account, body, method_path):
    method, path = method_path
    for payload in (body, {"automation": body}, {"automations": [body]}):
        response = account["call"](method, path, data=json.dumps(payload),
                                   headers={"Content-Type": "application/json"})
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
