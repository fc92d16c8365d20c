"""Each account's hourly check: what a failure between two writes can have left undone, or a
change of the account's zone left to it, put right (the sweep coordinator asks for it hourly,
through the expand queue)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from automations import clock
from automations.domain import messages
from automations.domain.run import Run
from automations.errors import NotFound

from automations.service.firings import CATCH_UP, RuleFirings
from automations.service.launching import RunLauncher
from automations.service.replanning import Replanner

if TYPE_CHECKING:
    from automations.ports import ContactEventReads, RunQueue

CATCH_UP_PAGE = 100  # contact events the catch-up reads at a time (then looks at the time left)


class HourlyCheck:
    def __init__(self, *, event_log: ContactEventReads, launcher: RunLauncher, firings: RuleFirings,
                 replanning: Replanner, queue: RunQueue) -> None:
        self._event_log = event_log  # the durable contact event log
        self._launcher = launcher
        self._firings = firings
        self._replanning = replanning
        self._queue = queue

    def hourly_check_later(self, account_ids: Iterable[str]) -> None:
        """Ask the expander to run each account's hourly check (the sweep coordinator does)."""
        self._queue.expand_later([messages.HourlyCheck(a) for a in account_ids])

    def hourly_check(self, account_id: str, *, since: str | None = None, cursor: str | None = None,
                     has_time: Callable[[], bool] = lambda: True) -> dict[str, int]:
        """What a failure between two writes can have left undone, or a change of the account's
        zone left to it: what waits on the account's clock moved to its zone, schedules put back,
        and runs of recent contact events created. The catch-up reads the log a page at a time;
        when time runs short, the rest (from ``since``, at ``cursor``) goes on through the expand
        queue, so no invocation outlasts its timeout and a long log is read once, not restarted."""
        first = cursor is None
        zone_followed = self._replanning.follow_zone(account_id) if first else 0
        schedules = self._firings.check_schedules(account_id) if first else 0
        since = since or clock.iso_z(clock.now() - CATCH_UP)
        made, cursor = self.catch_up(account_id, since=datetime.fromisoformat(since), cursor=cursor,
                                     has_time=has_time)
        if cursor is not None:
            self._queue.expand_later([messages.HourlyCheck(account_id, since, cursor)])
        return {"zone_followed": zone_followed, "schedules": schedules, "caught_up_runs": len(made),
                "continued": int(cursor is not None)}

    def catch_up(self, account_id: str, *, since: datetime, cursor: str | None = None,
                 has_time: Callable[[], bool] = lambda: True) -> tuple[list[Run], str | None]:
        """Runs of the contact events (joins, contacts created or changed) from ``since`` on that
        were never made (the process stopped between an event's commit and its hand-off to the
        queue): the contact event log, written with each of them, has them all. A page at least
        is read; the next only while ``has_time()``. Returns the runs made and where to go on
        (None at the end)."""
        made = []
        while True:
            logged, cursor = self._event_log.since(account_id, cursor=cursor, since=since, limit=CATCH_UP_PAGE)
            made += self._launcher.missing_runs_of_joins(logged)
            for contact_uuid in {e.contact_uuid for e in logged if e.zone_changed}:
                self._replanning.contact_changed(account_id, contact_uuid)  # idempotent: moves a run once
            for change in (e for e in logged if not e.is_join):
                try:
                    made += self._launcher.missing_runs_of_event(account_id, change.event.value, change.contact_uuid,
                                                                 event_id=change.id, occurred_at=change.occurred_at)
                except NotFound:
                    continue  # the contact is gone since: nothing to run
            if cursor is None or not has_time():
                return made, cursor
