"""Data migrations: what a key change needs for the data written before it.

A migration is versioned (its name starts with its number: they run in that order), idempotent
(a step moves or rewrites an item only if it is still in the old shape, so a step repeated, or
two runners at once, change nothing twice) and resumable (its position, the account and the key
it has reached, is saved after every page, so a runner stopped anywhere goes on from there).
Each one walks the accounts in id order, a page of one account's old items at a time.

Runners: ``automations migrate`` (to the end, from a deployer's machine or against the local
stack), the coordinator's ``{"duties": "migrate"}`` input (the deploy's step: each invocation for
its time, until none is pending), the local runtime's start, and the coordinator's half-past
upkeep, which goes on with a migration one of those started but never starts one: it may run the
new release while a canary still runs the one before, whose writes (old keys only) a migration
finished meanwhile would leave out of the new keys' listings. Until a
migration has finished, the stores it concerns read the old keys too (adapters/migration_state.py),
so nothing written before the change is lost meanwhile."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.ports import Migration, MigrationStore

_log = logging.getLogger(__name__)


AccountPage = Callable[[int, "str | None"], "tuple[list[str], str | None]"]


class Migrations:
    def __init__(self, store: MigrationStore, accounts: AccountPage, migrations: list[Migration],
                 finished: Callable[[str], None]) -> None:
        self._store = store
        self._accounts = accounts
        self._migrations = sorted(migrations, key=lambda m: m.name)
        self._finished = finished  # tells this process's stores to stop reading the old keys

    def status(self) -> list[dict[str, Any]]:
        """Each migration, in order: its name, what it does, whether it is done, items changed."""
        states = [(m, self._store.state(m.name) or {}) for m in self._migrations]
        return [{"name": m.name, "about": m.about, "done": bool(s.get("done")), "migrated": s.get("migrated", 0)}
                for m, s in states]

    def run(self, has_time: Callable[[], bool] = lambda: True, *, start: bool = True) -> dict[str, Any]:
        """Run the pending migrations in order while ``has_time()`` (a page at least, each call);
        not ``start``: only those already started (the upkeep's way), the first not started
        stopping it. Returns what finished in this call, what is still pending and how many items
        were changed."""
        finished, migrated = [], 0
        for migration in self._migrations:
            outcome, changed = self._run(migration, has_time, start)
            migrated += changed
            if outcome == "pending":
                pending = [m.name for m in self._migrations if m.name >= migration.name]
                return {"finished": finished, "pending": pending, "migrated": migrated}
            if outcome == "finished":
                finished.append(migration.name)
        return {"finished": finished, "pending": [], "migrated": migrated}

    def _run(self, migration: Migration, has_time: Callable[[], bool], start: bool) -> tuple[str, int]:
        """("done": before this call, "finished": in it, or "pending"), and the items it changed."""
        state = self._store.state(migration.name)
        if state is None and not start:
            return "pending", 0
        state = state or {"done": False, "account": None, "start": None, "migrated": 0, "steps": 0}
        if state["done"]:
            self._finished(migration.name)
            return "done", 0
        changed, first = 0, True
        account = state["account"] or self._next_account(None)
        while first or has_time():
            first = False
            if account is None:
                state = {**state, "done": True, "account": None, "start": None}
            else:
                moved, start = migration.step(account, state["start"])
                changed += moved
                account = account if start is not None else self._next_account(account)
                state = {**state, "done": account is None, "account": account, "start": start,
                         "migrated": state["migrated"] + moved}
            if not self._store.save(migration.name, {**state, "steps": state["steps"] + 1}, state["steps"]):
                _log.info("migration %s is moved on by another runner", migration.name)
                return "pending", changed
            state["steps"] += 1
            if state["done"]:
                # a new table's migrations finish with nothing to do: not news
                _log.log(logging.INFO if state["migrated"] else logging.DEBUG, "migration %s finished: %d items",
                         migration.name, state["migrated"])
                self._finished(migration.name)
                return "finished", changed
            account = state["account"]
        return "pending", changed

    def _next_account(self, after: str | None) -> str | None:
        ids, _ = self._accounts(1, after)
        return ids[0] if ids else None
