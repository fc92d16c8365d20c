"""The Zendesk, VipeCloud and Piggy surfaces' OpenAPI documents as the local runtime serves them,
and schemathesis checking each surface against its document over HTTP (bounded and derandomized
like the native run in test_openapi_e2e.py)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from automations_local import openapi
from automations_local.template import load_template
from test_openapi_e2e import DERANDOMIZE, MAX_EXAMPLES, NOT_SCHEMA_CONFORMANCE

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", openapi.SURFACE_DOCUMENTS)
def test_serves_each_surface_document_and_its_page(local_runtime, name):
    response = local_runtime.request("GET", f"/openapi/{name}.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == openapi.surface_document(load_template(), name)
    page = local_runtime.request("GET", f"/docs/{name}")
    assert page.status_code == 200 and f'url: "/openapi/{name}.json"' in page.text
    assert f'href="/docs/{name}"' in local_runtime.request("GET", "/docs").text  # linked from the native page


@pytest.fixture(scope="session")
def surface_key(local_runtime) -> str:
    return local_runtime.create_account("Schemathesis surfaces")["api_key"]


def _schema(name: str):
    return schemathesis.openapi.from_dict(
        openapi.surface_document(load_template(), name),
        config=schemathesis.config.SchemathesisConfig.from_dict({
            "generation": {"max-examples": MAX_EXAMPLES}, "checks": NOT_SCHEMA_CONFORMANCE}))


zendesk_api, vipecloud_api, piggy_api = (_schema(name) for name in openapi.SURFACE_DOCUMENTS)


def _check(case, local_runtime, surface_key):
    """No 5xx, and every answer (status, content type, body) is one the document allows."""
    case.call_and_validate(base_url=local_runtime.base_url, headers={"Authorization": f"Bearer {surface_key}"})


@zendesk_api.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_zendesk_surface_conforms_to_its_document(case, local_runtime, surface_key):
    _check(case, local_runtime, surface_key)


@vipecloud_api.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_vipecloud_surface_conforms_to_its_document(case, local_runtime, surface_key):
    _check(case, local_runtime, surface_key)


@piggy_api.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_piggy_surface_conforms_to_its_document(case, local_runtime, surface_key):
    _check(case, local_runtime, surface_key)
