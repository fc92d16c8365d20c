"""Operating it, end to end through the local runtime: the API Gateway rules the template sets
(the authorizer's identity sources) keep each surface's own 401 for a request without credentials."""
from __future__ import annotations

import pytest

# A request without any credentials, on each surface: its own 401 body, never API Gateway's
# {"message": "Unauthorized"} (which is what an identity source on Authorization would give).
SURFACES = [
    ("GET", "/api/v2/automations.json", {"error": "Couldn't authenticate you"}),
    ("GET", "/api/v2/tickets.json", {"error": "Couldn't authenticate you"}),
    ("GET", "/automations", {"status": "error", "message": "Authentication failed"}),
    ("GET", "/api/v3/oauth/clients/automations", {"message": "Unauthenticated.", "code": 401, "status_code": 401}),
]


@pytest.mark.parametrize("method, path, body", SURFACES)
def test_a_request_without_credentials_gets_its_surfaces_own_401(local_runtime, method, path, body):
    response = local_runtime.request(method, path)
    assert (response.status_code, response.json()) == (401, body)


def test_a_native_request_without_credentials_gets_the_native_401(local_runtime):
    response = local_runtime.request("GET", "/v1/contacts")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_the_authorizer_declares_no_identity_source(local_runtime):
    """The rule the two tests above rely on, as the template states it: with an identity source,
    API Gateway (and the local gateway) would answer a request missing it by itself."""
    authorizers = {route.authorizer for route in local_runtime.runtime.template.routes if route.authorizer}
    assert authorizers and all(not a.identity_headers and not a.identity_query_strings for a in authorizers)
