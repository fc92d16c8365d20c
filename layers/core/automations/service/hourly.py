"""The hourly coordinator's duties (the outbox relay, the re-drive of runs past their time, the
accounts' hourly checks, the sweep), each apart from the others: one that fails never keeps the
others from their turn."""
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
