"""The local runtime's control API (/_local/, never deployed): the clock, accounts, the scheduler's
tick and a whole sweep cycle on demand, each an endpoint taking (runtime, request)."""
from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from automations import bootstrap
from automations.clock import iso_z, parse_iso
from automations_local import LOGGER_NAME
from automations_local.api_gateway import HttpRequest, HttpResponse, json_response
from automations_local.scheduler import Rate, Schedule
from automations_local.server import ControlEndpoints, ControlError, read_json_object

if TYPE_CHECKING:
    from automations_local.runtime import LocalRuntime

log = logging.getLogger(LOGGER_NAME)

DEFAULT_DRAIN_TIMEOUT_S = 60.0
SWEEP_COUNTERS = ("tickets_evaluated", "automations_fired", "tickets_updated", "notifications_sent",
                  "firings_failed", "tickets_failed")

endpoints = ControlEndpoints()


def _now(runtime: LocalRuntime) -> HttpResponse:
    return json_response(200, {"now": iso_z(runtime.clock.now()),
                               "offset_seconds": round(runtime.clock_offset.total_seconds())})


@endpoints.route("GET", "/_local/health")
def _health(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    return json_response(200, {"status": "ok"})


@endpoints.route("GET", "/_local/clock")
def _get_clock(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    return _now(runtime)


@endpoints.route("POST", "/_local/clock")
def _move_clock(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    """{"advance_seconds": N}, {"set": "2030-01-01T09:00:00Z"} or {"real_time": true}."""
    body = read_json_object(request)
    if body.keys() not in ({"advance_seconds"}, {"set"}, {"real_time"}):
        raise ControlError(400, 'give exactly one of "advance_seconds", "set" and "real_time"')
    if "real_time" in body and body["real_time"] is not True:
        raise ControlError(400, 'real_time must be true (it returns the clock to real time)')
    runtime.scheduler.hold_background()  # before the move: the caller's own tick reports what it makes due
    try:
        if "advance_seconds" in body:
            runtime.clock.advance(_seconds(body["advance_seconds"]))
        elif "set" in body:
            runtime.clock.set(_instant(body["set"]))
        else:
            runtime.clock.to_real_time()
    except OverflowError:
        raise ControlError(400, "that moves the clock out of the representable range") from None
    runtime.scheduler.clock_moved()
    if runtime.state is not None:
        runtime.state.clock_moved()
    return _now(runtime)


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlError(400, "advance_seconds must be a number")
    return value


def _instant(value: object) -> datetime:
    try:
        return parse_iso(value)
    except (AttributeError, ValueError):
        raise ControlError(400, 'set must be an ISO-8601 time with "Z" or an offset') from None


@endpoints.route("POST", "/_local/accounts")
def _create_account(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    body = read_json_object(request)
    for name in ("name", "email"):
        if not isinstance(body.get(name), str):
            raise ControlError(400, f"{name} must be a string")
    timezone = body.get("timezone", "UTC")
    if not isinstance(timezone, str):
        raise ControlError(400, "timezone must be a string")
    return json_response(201, runtime.create_account(body["name"], body["email"], timezone))


@endpoints.route("POST", "/_local/scheduler/tick")
def _tick(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    """Fire every schedule due now, then drain the SQS queues so their effects are done."""
    timeout_s = _drain_timeout(request)
    fired = runtime.scheduler.tick()
    report = runtime.queues.drain(timeout_s)
    if not report.drained:
        return json_response(504, {"error": f"the queues were not drained within {timeout_s}s",
                                   "fired": fired, "backlog": report.backlog})
    return json_response(200, {"fired": fired})


@endpoints.route("POST", "/_local/sweep")
def _sweep(runtime: LocalRuntime, request: HttpRequest) -> HttpResponse:
    """One whole sweep cycle now: the hourly schedule's function (counting as that schedule's
    run, so the background does not start a second sweep of the same hour), then its queue
    work, then the cycle's counters."""
    timeout_s = _drain_timeout(request)
    started = time.monotonic()
    schedule = _hourly_schedule(runtime)
    try:
        started_sweep = runtime.scheduler.run_now(schedule)
        sweep_id = started_sweep["sweep_id"]
    except Exception as error:
        log.exception("the sweep did not start (%s)", schedule.function.logical_id)
        return json_response(500, {"error": f"{schedule.function.logical_id} failed: {type(error).__name__}: {error}"})
    report = runtime.queues.drain(timeout_s)
    if not report.drained:
        return json_response(504, {"error": f"the sweep did not finish within {timeout_s}s", "sweep_id": sweep_id,
                                   "backlog": report.backlog})
    summary = bootstrap.services().sweep_summary(sweep_id)
    answer = {"sweep_id": sweep_id, **{name: summary[name] for name in SWEEP_COUNTERS},
              "shards_failed": summary["shards_started"] - summary["shards_done"],
              "duration_ms": round((time.monotonic() - started) * 1000)}
    if answer["shards_failed"]:  # their tasks went to the dead-letter queue: that work did not happen
        return json_response(500, {"error": f"{answer['shards_failed']} of {summary['shards_started']} sweep tasks "
                                            "failed (see the log and the sweep dead-letter queue)", **answer})
    return json_response(200, answer)


def _hourly_schedule(runtime: LocalRuntime) -> Schedule:
    """The template's ScheduleV2 rate(1 hour): the sweep, whatever its function is called."""
    hourly = [s for s in runtime.scheduler.template_schedules
              if s.event.type == "ScheduleV2" and s.expression == Rate(timedelta(hours=1))]
    if len(hourly) != 1:
        raise ControlError(404 if not hourly else 409,
                           f"the template has {len(hourly)} ScheduleV2 rate(1 hour) schedules, not one")
    return hourly[0]


def _drain_timeout(request: HttpRequest) -> float:
    """An optional {"timeout_s": N}: how long to wait for the queues (default 60 s)."""
    body = read_json_object(request) if request.body else {}
    if set(body) - {"timeout_s"}:
        raise ControlError(400, 'the only field is "timeout_s"')
    timeout_s = body.get("timeout_s", DEFAULT_DRAIN_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 3600:
        raise ControlError(400, "timeout_s must be a number of seconds, more than 0 and at most 3600")
    return timeout_s
