"""The local console: one page at GET /_local/console (served from this package; no CDN, nothing
fetched at run time) over the control API and the native API, and the two control endpoints only
it needs: the development account's credentials and the last sweeps. Local only, never deployed."""
from __future__ import annotations

from collections import defaultdict
from importlib.resources import files

from automations import bootstrap, config
from automations.adapters import aws
from automations.adapters.dynamo_sweep import sum_summary_parts, summary_sweep_id
from automations_local.api_gateway import HttpRequest, HttpResponse, json_response
from automations_local.server import ControlEndpoints

_PAGE = files("automations_local").joinpath("console.html")
_SWEEP_COUNTERS = ("tickets_evaluated", "automations_fired", "tickets_updated", "notifications_sent")
LAST_SWEEPS = 20

endpoints = ControlEndpoints()


@endpoints.route("GET", "/_local/console")
def _console(runtime, request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, [("content-type", "text/html; charset=utf-8"),
                              ("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                          "style-src 'unsafe-inline'; frame-src 'self'")],
                        _PAGE.read_bytes())


@endpoints.route("GET", "/")
def _home(runtime, request: HttpRequest) -> HttpResponse:
    """The runtime's address leads to the console (and from it to the API docs)."""
    return HttpResponse(302, [("location", "/_local/console")])


@endpoints.route("GET", "/_local/console/session")
def _session(runtime, request: HttpRequest) -> HttpResponse:
    """Who the console acts as: the development account (its key is printed at start-up too)."""
    account = bootstrap.services().accounts.get_account(runtime.dev_account_id)
    return json_response(200, {"account_id": account.id, "name": account.name, "email": account.email,
                               "api_key": runtime.dev_api_key})


@endpoints.route("GET", "/_local/sweeps")
def _sweeps(runtime, request: HttpRequest) -> HttpResponse:
    return json_response(200, {"sweeps": last_sweeps()})


def last_sweeps(limit: int = LAST_SWEEPS) -> list[dict]:
    """The latest sweep cycles' summaries (each the sum of its parts), newest first. Local only:
    it Scans the table."""
    pages = aws.client("dynamodb").get_paginator("scan").paginate(
        TableName=config.table_name(), FilterExpression="begins_with(PK, :sweep) AND SK = :summary",
        ExpressionAttributeValues={":sweep": {"S": "SWEEP#"}, ":summary": {"S": "SUMMARY"}})
    parts: dict[str, list[dict]] = defaultdict(list)
    for page in pages:
        for item in page["Items"]:
            parts[summary_sweep_id(item)].append(item)
    sweeps = [{"sweep_id": sweep_id,
               "finished_at": max((item["finished_at"]["S"] for item in items if "finished_at" in item), default=None),
               **{name: count for name, count in sum_summary_parts(items).items() if name in _SWEEP_COUNTERS}}
              for sweep_id, items in parts.items()]
    sweeps.sort(key=lambda s: s["finished_at"] or "", reverse=True)
    return sweeps[:limit]
