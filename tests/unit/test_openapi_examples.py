"""Every operation of the four OpenAPI documents (the native one generated into openapi.json, and
the Zendesk, VipeCloud and Piggy ones written by hand) shows an example request (its path
parameters and body) and an example answer, and each example is one its schema accepts."""
from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from automations_local import openapi
from automations_local.template import load_template

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def template():
    return load_template()


def documents(template) -> dict[str, dict[str, Any]]:
    return {"native": openapi.build(template),
            **{name: openapi.surface_document(template, name) for name in openapi.SURFACE_DOCUMENTS}}


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        for part in node["$ref"].removeprefix("#/").split("/"):
            document = document[part.replace("~1", "/").replace("~0", "~")]
        node = document
    return node


def examples_of(holder: dict[str, Any]) -> list[Any]:
    if "example" in holder:
        return [holder["example"]]
    return [example["value"] for example in holder.get("examples", {}).values()]


def problems(template) -> list[str]:
    """What is missing or wrong, one line each, over every operation of every document."""
    found = []
    for name, document in documents(template).items():
        def check(where: str, holder: dict[str, Any], schema: dict[str, Any]) -> None:
            given = examples_of(holder)
            if not given:
                found.append(f"{where}: no example")
            for example in given:
                # the document's components beside the schema: its "#/components/..." references resolve there
                for error in Draft202012Validator({**schema, "components": document.get("components", {})}
                                                  ).iter_errors(example):
                    found.append(f"{where}: the example does not fit its schema: {error.message}")

        for path, item in document["paths"].items():
            for method in (m for m in METHODS if m in item):
                operation, where = item[method], f"{name}: {method.upper()} {path}"
                for parameter in map(lambda p: resolved(document, p), item.get("parameters", []) +
                                     operation.get("parameters", [])):
                    if parameter["in"] == "path":
                        check(f"{where} parameter {parameter['name']}", parameter, parameter["schema"])
                if "requestBody" in operation:
                    media = resolved(document, operation["requestBody"])["content"]["application/json"]
                    check(f"{where} request", media, media["schema"])
                for status, answer in operation["responses"].items():
                    content = resolved(document, answer).get("content", {})
                    if status.startswith("2") and "application/json" in content:
                        check(f"{where} answer {status}", content["application/json"],
                              content["application/json"]["schema"])
    return found


def test_every_operation_has_an_example_request_and_answer_that_fit_its_schemas(template):
    assert problems(template) == []


def test_a_missing_or_wrong_example_is_found(template, monkeypatch):
    """The check itself: an example that does not fit, and one taken away, are both reported."""
    build = openapi.build

    def broken(template):
        document = build(template)
        contacts = document["paths"]["/v1/contacts"]
        contacts["post"]["requestBody"]["content"]["application/json"]["example"] = {"email": 5}
        del contacts["get"]["responses"]["200"]["content"]["application/json"]["example"]
        return document

    monkeypatch.setattr(openapi, "build", broken)
    found = problems(template)
    assert "native: POST /v1/contacts request: the example does not fit its schema: 5 is not valid under any of the " \
           "given schemas" in found
    assert "native: GET /v1/contacts answer 200: no example" in found
