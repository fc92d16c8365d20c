"""The hourly coordinator's duties (the outbox relay, the re-drive of runs past their time, the
accounts' hourly checks, the sweep, the pending data migrations), each apart from the others: one
that fails never keeps the others from their turn. Each of the coordinator's schedules names its
duties in its input ({"duties": ...}); HourlyDuties says what each name does."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from automations import telemetry
from automations.errors import reason_of

_log = logging.getLogger(__name__)


class DutiesFailed(Exception):
    """Some duties failed (each logged with its reason); ``done`` holds what the others returned."""

    def __init__(self, failed: list[str], done: dict[str, Any]) -> None:
        super().__init__(f"hourly duties failed: {', '.join(failed)}")
        self.failed, self.done = failed, done


def perform(duties: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every duty in turn; one that raises is logged with its reason and counted
    (HourlyDutiesFailed, by duty), and the rest still run. Returns what each returned, or raises
    DutiesFailed once all ran, so the invocation fails visibly (its retries, the failure queue)."""
    done: dict[str, Any] = {}
    failed: list[str] = []
    for name, duty in duties.items():
        try:
            done[name] = duty()
        except Exception as error:  # noqa: BLE001 - the bulkhead: whatever it is, it is this duty's alone
            failed.append(name)
            _log.exception("hourly duty %s failed: %s", name, reason_of(error))
            telemetry.count("HourlyDutiesFailed", dimension=("duty", name))
    if failed:
        raise DutiesFailed(failed, done)
    return done


SWEEP_DUTIES = "sweep"  # the hourly schedule sends no input
UPKEEP = "upkeep"  # the half-past schedule's input (template.yaml)
MIGRATE = "migrate"  # the deploy's step (docs/deploying.md)


class HourlyDuties:
    """The coordinator's schedules' duties over the services that do them, each service asked
    for only when its duty runs (a sweep never builds the run executor)."""

    def __init__(self, *, sweeps: Callable[[], Any], deliveries: Callable[[], Any], run_executor: Callable[[], Any],
                 migrations: Callable[[], Any]) -> None:
        self._sweeps, self._deliveries, self._migrations = sweeps, deliveries, migrations
        self._run_executor = run_executor

    def run(self, duties: Any, invocation: str, has_time: Callable[[], bool]) -> dict[str, Any]:
        """The ``duties`` a schedule names, for the invocation ``invocation`` (a retry of it
        starts no second sweep); what they did. A name not known fails, starting nothing."""
        if duties not in (SWEEP_DUTIES, UPKEEP, MIGRATE):  # a mistyped schedule input fails, visibly
            raise ValueError(f"unknown duties {duties!r}: {SWEEP_DUTIES!r}, {UPKEEP!r} or {MIGRATE!r}")
        from automations.domain.sweep import HOURLY_CHECK, SWEEP

        if duties == MIGRATE:
            migrated = self._migrations().run(has_time=has_time)
            _log.info("migrations run", extra=migrated)
            return migrated
        if duties == UPKEEP:
            done = perform({"hourly_check": lambda: self._sweeps().start(HOURLY_CHECK, invocation).sweep_id,
                            "relay": lambda: self._deliveries().relay(),  # what a crash or a failure left unsent
                            "redrive": lambda: self._run_executor().redrive(has_time=has_time).done,
                            # on with what a deploy's step started, never starting one (a canary may still run)
                            "migrate": lambda: self._migrations().run(has_time=has_time, start=False)["pending"]})
            _log.info("upkeep done", extra=done)
            return {"hourly_check_id": done["hourly_check"], "relayed": done["relay"], "redriven": done["redrive"],
                    "migrations_pending": done["migrate"]}
        done = perform({"sweep": lambda: self._sweeps().start(SWEEP, invocation).sweep_id})
        _log.info("sweep started", extra=done)
        return {"sweep_id": done["sweep"]}
