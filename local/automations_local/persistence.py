"""The local runtime's state on disk: moto's backends (every table item, queue message, schedule,
bus, the mail and texts sent) and the local clock, kept as a base and a journal of what changed.

At most once a second, when an AWS call changed something, the changes since the last time are
appended to the journal as one record, taken between two AWS calls (one consistent cut): each
DynamoDB item written since (announced by the patches, ``on_item_write``), and whole any other
service a call changed (queues, schedules, buses: small next to the tables). AWS calls wait only
while those few items are copied, whatever the size of the tables. A table-level change (a table
created) takes a full record of everything.

Each record is framed (length and CRC), appended and flushed to disk; a record torn by a crash
is the journal's last and is dropped at the next start, so a restart finds the state as of the
last whole record. When the journal outgrows the base, the runtime starts a new journal and a
separate process (``python -m automations_local.compaction``) folds the base and the finished
journals into a new base (written to a temporary file, flushed, renamed), then deletes them: a
crash at any moment leaves files that restore the same state. A file this version cannot read
is refused with a message and left where it is."""
from __future__ import annotations

import copyreg
import io
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from automations.clock import MovableClock
from automations_local import LOGGER_NAME, compact_items, compaction, patches
from automations_local.background import BackgroundLoop
from automations_local.compaction import StateError

log = logging.getLogger(LOGGER_NAME)

SAVE_INTERVAL_S = 1.0
SERVICES = ("dynamodb", "sqs", "scheduler", "events", "ses", "sns")
# DynamoDB calls that change items only: the items they wrote are announced one by one.
ITEM_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
COMPACT_AFTER_BYTES = 16 * 2**20  # a journal this size, or the base's, is folded into a new base
LEGACY_FILE = "state.pickle"  # a whole snapshot, as versions before the journal saved it
LEGACY_MAGIC = b"automations-local state 1\n"
_READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "ReceiveMessage",
                       "ChangeMessageVisibility")
_SIGNING_NAMES = {"dynamodb": "dynamodb", "sqs": "sqs", "scheduler": "scheduler", "events": "events",
                  "ses": "ses", "email": "ses", "sns": "sns"}

__all__ = ["StateError", "StateStore", "changes_state", "service_of"]


def changes_state(environ: dict, body: bytes) -> bool:
    """Whether an AWS call may change what is saved (reads, receives and visibility changes do
    not: a message in flight at a crash is visible again after it, as after its timeout)."""
    action = _action(environ, body)
    if action is None:  # REST (Scheduler): the method says
        return environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
    return not action.startswith(_READ_ONLY_PREFIXES)


def _action(environ: dict, body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    return None


def service_of(environ: dict) -> str | None:
    """The saved service an AWS call is for, from its signature's scope; None when unknown."""
    try:
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return _SIGNING_NAMES.get(scope[3])
    except IndexError:
        return None


def _picklers() -> dict:
    """moto's backends hold locks and conditions: saved as new, unheld ones. A table is saved
    without its items, which are saved one by one."""
    from moto.dynamodb.models.table import Table

    table = copyreg.dispatch_table.copy()
    for lock in (threading.Lock, threading.RLock):
        table[type(lock())] = lambda held, make=lock: (make, ())
    table[threading.Condition] = lambda condition: (threading.Condition, ())
    table[Table] = _table_without_items
    return table


def _table_without_items(table: Any) -> tuple:
    state = dict(vars(table))
    state["items"] = type(table.items)(*([dict] if table.range_key_attr else []))
    return _rebuilt, (type(table), state)


def _rebuilt(cls: type, state: dict) -> Any:
    made = cls.__new__(cls)
    made.__dict__.update(state)
    return made


def _dumps(value: Any, dispatch: dict) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = dispatch
    pickler.dump(value)
    return buffer.getvalue()


def _key_part(value: Any) -> tuple | None:
    return None if value is None else (value.type, value.value)


def _item_key(table: Any, hash_key: Any, range_key: Any) -> tuple:
    return (table.account_id, table.region_name, table.name, _key_part(hash_key), _key_part(range_key))


class StateStore:
    """Saves and restores the runtime's state under ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike, moto: Any, clock: MovableClock) -> None:
        """``moto``: the server's app, with the ``lock`` each AWS call holds."""
        self.directory = Path(data_dir)
        self.path = self.directory  # what the banner and messages name
        self._moto, self._clock = moto, clock
        self._dirty_items: dict[tuple, tuple] = {}  # item key -> (table, hash key, range key)
        self._dirty_services: set[str] = set()
        self._everything = False  # the next record holds the whole state
        self._clock_moved = False
        self._save_lock = threading.Lock()
        self._journal: compaction.Journal | None = None
        self._compactor: subprocess.Popen | None = None
        self._stop_listening = patches.on_item_write(self._item_written)
        moto.on_change = self.call_changed
        self.last_save_s: float | None = None  # how long the last record took, all told
        self.last_hold_s: float | None = None  # how long it held AWS calls
        self._loop = BackgroundLoop("automations-local-state", self._save_if_changed, SAVE_INTERVAL_S,
                                    "saving the local state")

    # --- what changed ----------------------------------------------------------------------

    def _item_written(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """Inside an AWS call (moto's lock held)."""
        self._dirty_items[_item_key(table, hash_key, range_key)] = (table, hash_key, range_key)

    def call_changed(self, environ: dict, body: bytes) -> None:
        """An AWS call that may have changed state succeeded (inside it, moto's lock held)."""
        service = service_of(environ)
        if service == "dynamodb":
            if _action(environ, body) not in ITEM_WRITES:
                self._everything = True  # a table made, changed or dropped
        elif service is not None:
            self._dirty_services.add(service)
        else:
            self._dirty_services.update(s for s in SERVICES if s != "dynamodb")

    def clock_moved(self) -> None:
        self._clock_moved = True

    def _changed(self) -> bool:
        return bool(self._dirty_items or self._dirty_services or self._everything or self._clock_moved)

    # --- restore ---------------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the saved state into moto and the clock; False when there is none yet."""
        self.directory.mkdir(parents=True, exist_ok=True)
        legacy = self.directory / LEGACY_FILE
        try:
            state = compaction.read_state(self.directory, repair=True)
            if state is None and legacy.exists():
                self._load_legacy(legacy)
                self._journal = compaction.Journal.start(self.directory)
                self._everything = True
                self.save()  # now in this version's form
                legacy.unlink()
                return True
            if state is not None:
                self._load(state)
        except StateError as error:
            raise StateError(self._refusal(str(error))) from None
        except Exception as error:  # made by other library versions
            raise StateError(self._refusal(f"it cannot be read ({type(error).__name__}: {error})")) from None
        self._journal = compaction.Journal.start(self.directory)
        return state is not None

    def _load(self, state: compaction.State) -> None:
        from moto.backends import get_backend

        for service, data in state.services.items():
            target = get_backend(service)
            target.clear()
            target.update(pickle.loads(data))
        tables = get_backend("dynamodb")
        for (account, region, name, _, _), data in state.items.items():
            table = tables[account][region].tables.get(name)
            if table is None:
                continue  # dropped with its table
            compact_items.place(table, pickle.loads(data))
        self._clock.set(datetime.now(timezone.utc) + state.clock_offset)

    def _load_legacy(self, path: Path) -> None:
        """A whole snapshot, as versions before the journal saved it."""
        from moto.backends import get_backend

        with open(path, "rb") as saved:
            if saved.read(len(LEGACY_MAGIC)) != LEGACY_MAGIC:
                raise StateError(f"{path.name} is not a state file of this version")
            try:
                state = pickle.load(saved)
            except Exception as error:  # truncated, corrupt, or made by other library versions
                raise StateError(f"{path.name} cannot be read ({type(error).__name__}: {error})") from None
        for service, backends in state["backends"].items():
            target = get_backend(service)
            target.clear()
            target.update(backends)
        self._clock.set(datetime.now(timezone.utc) + state["clock_offset"])

    def _refusal(self, reason: str) -> str:
        return (f"the local state in {self.directory} is refused: {reason}. It is kept as it is; move it away "
                "to start afresh, or choose another --data-dir, or run with --ephemeral")

    # --- save ------------------------------------------------------------------------------

    def save(self) -> None:
        """Append what changed since the last record (one at a time), taken between two AWS calls."""
        with self._save_lock:
            started = time.monotonic()
            dispatch = _picklers()
            with self._moto.lock:
                held = time.monotonic()
                record = self._take_changes(dispatch)
                self.last_hold_s = time.monotonic() - held
            self._journal.append(record)
            self.last_save_s = time.monotonic() - started
        self._compact_if_due()

    def _take_changes(self, dispatch: dict) -> compaction.Record:
        """The record of what changed, copied now (moto's lock held), and a fresh start."""
        from moto.backends import get_backend

        everything = self._everything
        if everything:
            services = {service: _dumps(dict(get_backend(service)), dispatch) for service in SERVICES}
            written = ((_item_key(table, item.hash_key, item.range_key), item)
                       for table in _tables() for item in _items_of(table))
        else:
            services = {service: _dumps(dict(get_backend(service)), dispatch) for service in self._dirty_services}
            written = ((key, table.get_item(hash_key, range_key))
                       for key, (table, hash_key, range_key) in self._dirty_items.items())
        items = {key: None if item is None else _dumps(item, dispatch) for key, item in written}
        offset = self._clock.now() - datetime.now(timezone.utc)
        self._dirty_items, self._dirty_services = {}, set()
        self._everything = self._clock_moved = False
        return compaction.Record(items, services, everything, _rounded(offset))

    def _save_if_changed(self) -> bool:
        if self._changed():
            self.save()
        return False

    def _compact_if_due(self) -> None:
        if self._compactor is not None:
            if self._compactor.poll() is None:
                return
            if self._compactor.returncode:
                log.warning("folding the local state's journal into its base failed (exit %s); it is kept as it "
                            "is and tried again", self._compactor.returncode)
            self._compactor = None
        if self._journal.size < max(COMPACT_AFTER_BYTES, compaction.base_size(self.directory)):
            return
        finished = self._journal.generation
        self._journal = compaction.Journal.start(self.directory)
        # Its own process: folding a large base would hold this one's interpreter for seconds.
        self._compactor = subprocess.Popen(
            [sys.executable, "-m", "automations_local.compaction", str(self.directory), str(finished)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def start(self) -> StateStore:
        """Save in the background (again, after ``pause``)."""
        self._loop.start()
        return self

    def pause(self) -> None:
        """Stop saving in the background for now; changes wait for the next record."""
        self._loop.stop()

    def stop(self) -> None:
        """Stop saving in the background, then save what changed since the last record. A
        compaction under way finishes on its own (its result is whole or absent)."""
        self._loop.stop()
        self._save_if_changed()
        self._stop_listening()
        self._moto.on_change = None
        if self._journal is not None:
            self._journal.close()


def _tables():
    from moto.backends import get_backend

    for regions in get_backend("dynamodb").values():
        for backend in regions.values():
            yield from backend.tables.values()


def _items_of(table: Any):
    for hashed in table.items.values():
        yield from (hashed.values() if table.range_key_attr else (hashed,))


def _rounded(offset: timedelta) -> timedelta:
    return timedelta(seconds=round(offset.total_seconds(), 3))
