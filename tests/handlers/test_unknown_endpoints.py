"""Paths and methods no route declares: each surface's catch-all route (template.yaml) answers in
that surface's format, and never shadows a declared route (API Gateway's precedence)."""
import json
import re

import pytest
from support import ROOT, http_event

from automations_local.api_gateway import RouteTable
from automations_local.lambdas import invoke
from automations_local.template import load_template

TEMPLATE = load_template(ROOT / "template.yaml")
ROUTES = RouteTable(TEMPLATE.routes)
CATCH_ALLS = {route.function_id for route in TEMPLATE.routes if route.path.endswith("{proxy+}")}

ZENDESK = (404, {"error": "InvalidEndpoint", "description": "Not found"})
VIPECLOUD = (404, {"status": "error", "message": "Endpoint not found."})
PIGGY = (404, {"message": "Not found.", "code": 404, "status_code": 404})
NATIVE = (404, {"error": {"code": "not_found", "message": "No such endpoint", "details": []}})


def test_each_surface_has_a_catch_all():
    assert {route.path for route in TEMPLATE.routes if route.function_id in CATCH_ALLS} == {
        "/api/v2/{proxy+}", "/automations", "/automations/{proxy+}", "/autoresponders", "/autoresponders/{proxy+}",
        "/api/v3/{proxy+}", "/v1/{proxy+}"}


@pytest.mark.parametrize("route", [r for r in TEMPLATE.routes if r.function_id not in CATCH_ALLS and r.path != "$default"],
                         ids=lambda r: r.key)
def test_every_declared_route_still_takes_its_requests(route):
    path = re.sub(r"\{[^}]+\}", "7", route.path)
    matched, _ = ROUTES.match("GET" if route.method == "ANY" else route.method, path)
    assert matched.function_id == route.function_id


@pytest.mark.parametrize("method, path, answer", [
    ("PATCH", "/api/v2/automations/1", ZENDESK),  # a known path, a method it does not take
    ("POST", "/api/v2/automations/1.json", ZENDESK),
    ("GET", "/api/v2/automations/1/extra", ZENDESK),
    ("GET", "/api/v2/nothing.json", ZENDESK),
    ("GET", "/api/v2/automations/", ZENDESK),
    ("DELETE", "/automations/1", VIPECLOUD),
    ("PUT", "/automations", VIPECLOUD),
    ("GET", "/autoresponders/1/extra", VIPECLOUD),
    ("PATCH", "/autoresponders", VIPECLOUD),
    ("GET", "/api/v3/oauth/clients/nothing", PIGGY),
    ("DELETE", "/api/v3/oauth/clients/automations/runs", PIGGY),
    ("GET", "/api/v3/oauth/clients/automations/runs", PIGGY),
    ("PUT", "/v1/contacts", NATIVE),
    ("GET", "/v1/nothing/at/all", NATIVE),
    ("POST", "/v1/runs/abc", NATIVE),
])
def test_unknown_paths_and_methods_answer_in_the_surface_format(method, path, answer):
    route, parameters = ROUTES.match(method, path)
    assert route.function_id in CATCH_ALLS
    event = http_event(method, path, route=route.path, path_params=parameters or None, raw_body='{"a": 1}')
    response = invoke(TEMPLATE.functions[route.function_id], event)
    assert (response["statusCode"], json.loads(response["body"])) == answer
