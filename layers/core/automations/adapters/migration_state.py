"""Whether a data migration has finished (service/migrations.py runs them; their names are here).

Until one has, the stores it concerns read the keys it replaces as well (and move what they find
there): a run, a delivery or a membership written before a key change is found under its old key,
a listing merges the old partition in. A state is read once a minute per process while the
migration is unfinished (or afresh, by a reader whose old keys a writer that knows it finished
leaves out), and never again once it has finished (a finished migration stays so)."""
from __future__ import annotations

import threading
import time
from typing import Any

from automations.adapters.table import text

RUNS_SHARDED = "001-runs-sharded"  # ACCOUNT#<a>, RUN#<id> -> ACCOUNT#<a>#RUNS#<shard>
DELIVERIES_SHARDED = "002-deliveries-sharded"  # ACCOUNT#<a>, DELIVERY#<id> (DUE_PK OUTBOX) -> sharded, OUTBOX#<shard>
MEMBERSHIPS_SHARDED = "003-memberships-sharded"  # ACCOUNT#<a>, MEMBER#<KIND>#<id>#<uuid> -> sharded
TICKET_INDEX_KEYS = "004-ticket-index-keys"  # tickets and audits written before GSI2 listed them
TICKET_INDEX_SHARDED = "005-ticket-index-sharded"  # ACCOUNT#<a>#TICKET_UPDATES / #AUDITS -> ...#<shard>
AUTOMATION_TRIGGERS = "006-automation-triggers"  # active automations indexed by what starts them (GSI2)
USER_ROLE_INDEX = "007-user-role-index"  # users stored before GSI1 listed them by role, and their counts
TICKET_TAG_COUNTS = "008-ticket-tag-counts"  # live tickets stored before their tags were counted
RUNS_AUTOMATION_INDEX = "009-runs-automation-index"  # runs' GSI1 keys -> the keys-only AutomationRunsIndex
RUNS_SUBJECT_INDEX = "010-runs-subject-index"  # runs given the keys-only SubjectRunsIndex's keys beside GSI2's

RECHECK_S = 60.0  # how stale a process's "unfinished" may be
_known: dict[tuple[str, str], float | bool] = {}  # (table, name) -> True, or when "unfinished" was read
_lock = threading.Lock()


def state_key(name: str) -> dict[str, Any]:
    return {"PK": text(f"MIGRATION#{name}"), "SK": text("STATE")}


def finished(db, table: str, name: str, *, afresh: bool = False) -> bool:
    """Whether the migration ``name`` has finished on ``table`` (``afresh``: read now, not up to
    RECHECK_S ago, unless known finished)."""
    known = _known.get((table, name))
    if known is True or (not afresh and known is not None and time.monotonic() - known < RECHECK_S):
        return known is True
    item = db.get_item(TableName=table, Key=state_key(name), ProjectionExpression="done",
                       ConsistentRead=afresh).get("Item")
    done = bool(item and item.get("done", {}).get("BOOL"))
    with _lock:
        _known[(table, name)] = True if done else time.monotonic()
    return done


def learned_finished(table: str, name: str) -> None:
    """This process finished ``name``: its stores stop reading the old keys at once."""
    with _lock:
        _known[(table, name)] = True


def forget() -> None:
    """Forget what was read (a new table, in tests and the local runtime)."""
    with _lock:
        _known.clear()
