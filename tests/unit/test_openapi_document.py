"""The native API's OpenAPI document: generated from the handlers template.yaml routes under /v1/,
checked in as openapi.json, and kept in sync by this test."""
from __future__ import annotations

import pytest

from automations_local import openapi
from automations_local.template import load_template


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def document(template):
    return openapi.build(template)


def operations(document):
    return [(method, path, operation) for path, item in document["paths"].items() for method, operation in item.items()]


def test_the_checked_in_document_is_current(template, document):
    checked_in = openapi.document_path(template)
    assert checked_in.read_text(encoding="utf-8") == openapi.render(document), (
        f"{checked_in.name} is out of date: run `make openapi` and commit the result")


def test_documents_every_native_route_and_nothing_else(template, document):
    native = {(route.method, route.path) for route in template.routes  # not the catch-all for unknown paths
              if route.path.startswith("/v1/") and route.path != "/v1/{proxy+}"}
    others = [route for route in template.routes if not route.path.startswith("/v1/")]
    assert others, "the template has other surfaces' routes: the selection is what keeps them out"
    assert {(method.upper(), path) for method, path, _ in operations(document)} == native


def test_is_openapi_3_1_with_the_api_key_schemes(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Automations native API"
    schemes = document["components"]["securitySchemes"]
    assert (schemes["bearerAuth"]["type"], schemes["bearerAuth"]["scheme"]) == ("http", "bearer")
    assert schemes["basicAuth"]["scheme"] == "basic"
    assert document["security"] == [{"bearerAuth": []}, {"basicAuth": []}]  # either one


def test_errors_are_documented_in_the_native_format(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert responses["401"] == {"$ref": "#/components/responses/Unauthenticated"}, (method, path)
        for status, answer in responses.items():
            if status >= "400":
                name = answer["$ref"].removeprefix("#/components/responses/")
                schema = document["components"]["responses"][name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}
    # Powertools' own 422 shape is what the native surface replaces: it must not be promised.
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_which_errors_an_operation_documents(document):
    def statuses(method, path):
        return [status for status in document["paths"][path][method]["responses"] if status >= "400"]

    assert statuses("get", "/v1/contacts") == ["400", "401", "422"]  # query parameters: a bad cursor is a 400
    assert statuses("get", "/v1/contacts/{contact_uuid}") == ["401", "404", "422"]
    assert statuses("post", "/v1/contacts") == ["400", "401", "409", "413", "415", "422"]
    assert statuses("delete", "/v1/contacts/{contact_uuid}") == ["401", "404", "409", "422"]


def test_success_statuses_come_from_the_handlers(document):
    assert list(document["paths"]["/v1/contacts"]["post"]["responses"])[0] == "201"
    deleted = document["paths"]["/v1/contacts/{contact_uuid}"]["delete"]["responses"]["204"]
    assert "content" not in deleted  # a 204 has no body


def test_operations_carry_their_handlers_description_and_resource_tag(document):
    operation = document["paths"]["/v1/contacts"]["post"]
    assert operation["tags"] == ["contacts"]
    assert operation["description"].startswith("POST /v1/contacts:")


def test_only_referenced_schemas_are_kept(document):
    text = openapi.render(document)
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text, name


def test_a_route_whose_handler_documents_nothing_fails_the_build(tmp_path):
    handler = tmp_path / "functions" / "orphan" / "app.py"
    handler.parent.mkdir(parents=True)
    handler.write_text('"""Declares another path than the template routes to it."""\n'
                       "from automations.surfaces import native\n\n"
                       "app = native.create_app()\n\n\n"
                       '@app.get("/v1/elsewhere")\n'
                       "def elsewhere() -> dict:\n"
                       "    return {}\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  OrphanFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/orphan/\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.13\n"
        "      Events:\n"
        "        Api:\n"
        "          Type: HttpApi\n"
        "          Properties: {Method: GET, Path: /v1/orphans}\n")
    with pytest.raises(ValueError) as raised:
        openapi.build(load_template(tmp_path / "template.yaml"))
    assert "GET /v1/orphans is routed in template.yaml but its handler documents no such operation" in str(raised.value)
    assert "GET /v1/elsewhere is documented by a handler but not routed in template.yaml" in str(raised.value)


@pytest.mark.parametrize("name", openapi.SURFACE_DOCUMENTS)
def test_every_operation_of_a_surface_document_is_routed(template, name):
    """Hand-written: each operation it documents is one the template serves (with its handler, not
    the surface's catch-all for unknown paths)."""
    document = openapi.surface_document(template, name)
    assert document["openapi"].startswith("3.1")
    routed = {(route.method, route.path) for route in template.routes if not route.path.endswith("+}")}
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item
                  if method != "parameters"}
    assert documented and documented <= routed, documented - routed
