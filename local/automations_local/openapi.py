"""The native API's OpenAPI 3.1 document, generated from its handlers, and the local pages that
serve it: ``GET /openapi.json`` and Swagger UI at ``GET /docs`` (local only, never deployed).

The handlers are the functions template.yaml routes under /v1/: the template decides what is
served, so a native function is documented as soon as it is declared. Powertools'
``OpenAPIMerge.discover()`` only recognises files that construct a resolver class by name
(``app = APIGatewayHttpResolver(...)``); native handlers get theirs from ``native.create_app()``,
so each one is handed to the merge by file instead.

The Zendesk, VipeCloud and Piggy surfaces' documents are written by hand (``openapi/<name>.yaml``,
held to the template's routes by tests) and served at ``GET /openapi/<name>.json`` and
``GET /docs/<name>``."""
from __future__ import annotations

import ast
import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBase, HTTPBearer

from automations.inputs import MAX_JSON_DEPTH, MAX_NUMBER_DIGITS
from automations.surfaces.http import MAX_BODY_BYTES
from automations_local.api_gateway import HttpRequest, HttpResponse
from automations_local.server import ControlEndpoints
from automations_local.template import Template

NATIVE_PREFIX = "/v1/"
DOCUMENT_FILE = "openapi.json"  # checked in beside template.yaml; `make openapi` rewrites it
EXAMPLES_FILE = "openapi/native-examples.yaml"  # each operation's example request and answer
API_VERSION = "1.0.0"
WRITE_METHODS = {"post", "put", "patch", "delete"}

DESCRIPTION = f"""\
The automations engine's own API: every record an automation uses, and the automations themselves.

**Credentials**: an API key, as `Authorization: Bearer <key>`, or as Basic credentials with the
key as password and the key owner's email (`<email>` or Zendesk's `<email>/token`) as user name.
Every record belongs to the key's account; another account's id answers like a missing one (404).

**Errors** are `{{"error": {{"code", "message", "details"}}}}`, `details` listing
`{{"field", "message"}}` for each invalid field (422). Bodies are JSON objects of at most
{MAX_BODY_BYTES // 2**20} MB, nested at most {MAX_JSON_DEPTH} levels deep, without duplicate keys, NaN or
Infinity, numbers of more than {MAX_NUMBER_DIGITS} digits, NUL characters or unpaired surrogates (400).

**Lists** are cursor paginated: pass `next_cursor` back as `cursor` while it is not null.
"""

SECURITY_SCHEMES = {
    "bearerAuth": HTTPBearer(description="`Authorization: Bearer <API key>`"),
    "basicAuth": HTTPBase(scheme="basic",
                          description="user name `<email>` or `<email>/token` (the key owner's), password the API key"),
}

# The native error format (automations.surfaces.native), and what each status means there.
ERROR_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. `invalid`, `not_found`"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}},
            },
        }},
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string", "description": "`base` when the record as a whole is at fault"},
                       "message": {"type": "string"}},
    },
}
ERRORS = {
    "400": ("BadRequest", "The body is not valid JSON, or a parameter is malformed (e.g. a cursor this API "
                          "did not issue, or too many values)."),
    "401": ("Unauthenticated", "Missing or invalid API key."),
    "404": ("NotFound", "No such record in the caller's account."),
    "409": ("Conflict", "The change conflicts with another record (e.g. an email in use) or with a "
                        "concurrent change; read and retry."),
    "413": ("TooLarge", f"The body is larger than {MAX_BODY_BYTES // 2**20} MB."),
    "415": ("NotJson", "The body is not sent as JSON (`Content-Type: application/json`)."),
    "422": ("Invalid", "The request is not valid; `details` names each field and its problem."),
}


def native_routes(template: Template) -> dict[tuple[str, str], Path]:
    """(method, path) of each native route -> the handler file that serves it."""
    return {(route.method, route.path): template.functions[route.function_id].handler_file
            for route in template.routes
            if route.path.startswith(NATIVE_PREFIX) and not route.path.endswith("+}")}  # not the catch-all


def build(template: Template) -> dict[str, Any]:
    merge = OpenAPIMerge(title="Automations native API", version=API_VERSION, description=DESCRIPTION,
                         security_schemes=SECURITY_SCHEMES,
                         security=[{name: []} for name in SECURITY_SCHEMES], on_conflict="error")
    routes = native_routes(template)
    for handler_file in sorted(set(routes.values())):
        merge.add_file(handler_file)
    document = json.loads(merge.get_openapi_json_schema())
    _check_every_route_documented(document, routes)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation["tags"] = [path.split("/")[2]]  # the resource: contacts, contact-lists, runs...
            if description := ast.get_docstring(ast.parse(routes[method.upper(), path].read_text(encoding="utf-8"))):
                operation["description"] = description
            operation["responses"] = _responses(method, operation)
    _add_examples(document, yaml.safe_load((template.root / EXAMPLES_FILE).read_text(encoding="utf-8")))
    document["paths"] = dict(sorted(document["paths"].items()))
    components = document["components"]
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    components["responses"] = {name: {"description": description, "content": error_body}
                               for name, description in ERRORS.values()}
    components["schemas"] = _used_schemas(document, {**components["schemas"], **ERROR_SCHEMAS})
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def document_path(template: Template) -> Path:
    return template.root / DOCUMENT_FILE


def _check_every_route_documented(document: dict[str, Any], routes: dict[tuple[str, str], Path]) -> None:
    """The merge only warns when a handler fails to load; a silently missing operation must not
    reach the checked-in document."""
    documented = {(method.upper(), path) for path, item in document.get("paths", {}).items() for method in item}
    declared = set(routes)
    if documented != declared:
        problems = [f"{m} {p} is routed in template.yaml but its handler documents no such operation"
                    for m, p in sorted(declared - documented)]
        problems += [f"{m} {p} is documented by a handler but not routed in template.yaml"
                     for m, p in sorted(documented - declared)]
        raise ValueError("; ".join(problems))


def _responses(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The handler's success answer, then the native errors this operation can give: Powertools
    only knows its own 422 shape, which the native surface replaces."""
    successes = {status: _without_body(status, answer) for status, answer in operation["responses"].items()
                 if status.startswith("2")}
    parameters = {parameter["in"] for parameter in operation.get("parameters", [])}
    has_body = "requestBody" in operation
    statuses = ["401"]
    if has_body or "query" in parameters:
        statuses += ["400", "422"]
    elif parameters:
        statuses.append("422")
    if "path" in parameters:
        statuses.append("404")
    if method in WRITE_METHODS:
        statuses.append("409")
    if has_body:
        statuses += ["413", "415"]
    errors = {status: {"$ref": f"#/components/responses/{ERRORS[status][0]}"} for status in sorted(statuses)}
    return {**successes, **errors}


def _add_examples(document: dict[str, Any], examples: dict[str, Any]) -> None:
    """Each operation's example request (its parameters and body) and success answer; a body of
    several shapes has one named example per shape (``requests``/``responses``)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            given = examples["operations"].get(f"{method.upper()} {path}", {})
            for parameter in operation.get("parameters", []):
                value = given.get("query", {}).get(parameter["name"], examples["parameters"].get(parameter["name"]))
                if value is not None:
                    parameter["example"] = value
            if body := operation.get("requestBody"):
                _add_example(body["content"]["application/json"], given, "request")
            for status, answer in operation["responses"].items():
                if status.startswith("2") and "content" in answer:
                    _add_example(answer["content"]["application/json"], given, "response")


def _add_example(media: dict[str, Any], given: dict[str, Any], kind: str) -> None:
    if kind in given:
        media["example"] = given[kind]
    elif f"{kind}s" in given:
        media["examples"] = {name: {"summary": name, "value": value} for name, value in given[f"{kind}s"].items()}


def _without_body(status: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "content"} if status == "204" else answer


def _used_schemas(document: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Only the schemas something refers to (Powertools adds its own validation error shapes)."""
    used: set[str] = set()
    pending = [{key: value for key, value in document.items() if key != "components"},
               document["components"]["responses"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            name = reference.removeprefix("#/components/schemas/")
            if reference.startswith("#/components/schemas/") and name not in used:
                used.add(name)
                pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {name: schemas[name] for name in sorted(used)}


# --- served by the local runtime -----------------------------------------------------------------

endpoints = ControlEndpoints()
_SWAGGER_UI = files("aws_lambda_powertools.event_handler.openapi.swagger_ui")  # bundled: no CDN needed
_ASSETS = {"/docs/swagger-ui.css": ("swagger-ui.min.css", "text/css"),
           "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.min.js", "application/javascript")}

# The compatible surfaces' documents, written by hand beside the product (openapi/<name>.yaml).
SURFACE_DOCUMENTS = {"zendesk": "Zendesk", "vipecloud": "VipeCloud", "piggy": "Piggy"}

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Automations {title} API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <nav style="font-family: sans-serif; padding: 8px 20px">APIs: {links}</nav>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    // Signed in as the development account: "Try it out" works at once (local pages only).
    const dev = {credentials};
    const ui = SwaggerUIBundle({{url: "{url}", dom_id: "#swagger-ui", onComplete: () => {{
      const schemes = ui.specSelectors.specJson().getIn(["components", "securitySchemes"]);
      for (const [name, scheme] of Object.entries(schemes ? schemes.toJS() : {{}})) {{
        if (scheme.type === "http" && scheme.scheme === "basic") ui.preauthorizeBasic(name, dev.user, dev.key);
        else ui.preauthorizeApiKey(name, dev.key);
      }}
    }}}});
  </script>
</body>
</html>
"""
_LINKS = " | ".join(f'<a href="{page}">{title}</a>' for page, title in [
    ("/docs", "native"), *((f"/docs/{name}", title) for name, title in SURFACE_DOCUMENTS.items())])


def surface_document(template: Template, name: str) -> dict[str, Any]:
    return yaml.safe_load((template.root / "openapi" / f"{name}.yaml").read_text(encoding="utf-8"))


@functools.cache
def _served_document(template: Template) -> bytes:
    """Built once per runtime, from the handlers it serves (it loads them once too)."""
    return render(build(template)).encode()


@endpoints.route("GET", "/openapi.json")
def _openapi_json(runtime: Any, request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, [("content-type", "application/json")], _served_document(runtime.template))


def _docs_page(runtime: Any, title: str, url: str, basic_user: str) -> HttpResponse:
    credentials = json.dumps({"user": basic_user, "key": runtime.dev_api_key}).replace("<", "\\u003c")
    page = _DOCS_PAGE.format(title=title, url=url, links=_LINKS, credentials=credentials)
    return HttpResponse(200, [("content-type", "text/html; charset=utf-8")], page.encode())


@endpoints.route("GET", "/docs")
@endpoints.route("GET", "/docs/")
def _docs(runtime: Any, request: HttpRequest) -> HttpResponse:
    return _docs_page(runtime, "native", "/openapi.json", runtime.dev_email)


def _surface_json(runtime: Any, request: HttpRequest) -> HttpResponse:
    name = request.raw_path.removeprefix("/openapi/").removesuffix(".json")
    return HttpResponse(200, [("content-type", "application/json")],
                        render(surface_document(runtime.template, name)).encode())


def _surface_docs(runtime: Any, request: HttpRequest) -> HttpResponse:
    name = request.raw_path.removeprefix("/docs/").rstrip("/")
    basic_user = f"{runtime.dev_email}/token" if name == "zendesk" else runtime.dev_email  # as each service writes it
    return _docs_page(runtime, SURFACE_DOCUMENTS[name], f"/openapi/{name}.json", basic_user)


for _name in SURFACE_DOCUMENTS:
    endpoints.route("GET", f"/openapi/{_name}.json")(_surface_json)
    endpoints.route("GET", f"/docs/{_name}")(_surface_docs)
    endpoints.route("GET", f"/docs/{_name}/")(_surface_docs)


def _asset(runtime: Any, request: HttpRequest) -> HttpResponse:
    name, content_type = _ASSETS[request.raw_path]
    return HttpResponse(200, [("content-type", content_type)], _SWAGGER_UI.joinpath(name).read_bytes())


for _path in _ASSETS:
    endpoints.route("GET", _path)(_asset)
