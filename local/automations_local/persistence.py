"""The local runtime's state on disk: a snapshot of moto's backends (every table item, queue
message, schedule, bus, the mail and texts sent) and of the local clock, taken at most once a
second when an AWS call changed something, and once more on a clean stop.

A snapshot is written whole to a temporary file, flushed to disk, then renamed over the last
one, so a crash at any moment leaves the previous or the new snapshot, never a torn one. A
file this version cannot read is refused with a message and left where it is."""
from __future__ import annotations

import copyreg
import io
import logging
import os
import pickle
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from automations.clock import MovableClock
from automations_local import LOGGER_NAME
from automations_local.background import BackgroundLoop

log = logging.getLogger(LOGGER_NAME)

STATE_FILE = "state.pickle"
SAVE_INTERVAL_S = 1.0
# What a file must start with; the number changes whenever what is saved changes shape.
MAGIC = b"automations-local state 1\n"
SERVICES = ("dynamodb", "sqs", "scheduler", "events", "ses", "sns")
_READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "ReceiveMessage",
                       "ChangeMessageVisibility")


class StateError(Exception):
    """A state file that cannot be used (the message says which and what to do)."""


def _lock_types() -> dict:
    """moto's backends hold locks and conditions: saved as new, unheld ones."""
    table = copyreg.dispatch_table.copy()
    for lock in (threading.Lock, threading.RLock):
        table[type(lock())] = lambda held, make=lock: (make, ())
    table[threading.Condition] = lambda condition: (threading.Condition, ())
    return table


def changes_state(environ: dict, body: bytes) -> bool:
    """Whether an AWS call may change what is saved (reads, receives and visibility changes do
    not: a message in flight at a crash is visible again after it, as after its timeout)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    else:  # REST (Scheduler): the method says
        return environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
    return not action.startswith(_READ_ONLY_PREFIXES)


class StateStore:
    """Saves and restores the runtime's state under ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike, moto: Any, clock: MovableClock) -> None:
        """``moto``: the server's app, with the ``lock`` each AWS call holds and the count of
        ``changes`` made so far."""
        self.path = Path(data_dir) / STATE_FILE
        self._moto, self._clock = moto, clock
        self._clock_moves = 0
        self._saved_changes = self._changes()
        self._save_lock = threading.Lock()
        self.last_save_s: float | None = None  # how long the last snapshot took
        self._loop = BackgroundLoop("automations-local-state", self._save_if_changed, SAVE_INTERVAL_S,
                                    "saving the local state")

    def clock_moved(self) -> None:
        self._clock_moves += 1

    def _changes(self) -> tuple[int, int]:
        return self._moto.changes, self._clock_moves

    # --- restore ---------------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the saved state into moto and the clock; False when there is none yet."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return False
        try:
            with open(self.path, "rb") as saved:
                if saved.read(len(MAGIC)) != MAGIC:
                    raise StateError("it is not a state file of this version")
                state = pickle.load(saved)
        except StateError as error:
            raise StateError(self._refusal(str(error))) from None
        except Exception as error:  # truncated, corrupt, or made by other library versions
            raise StateError(self._refusal(f"it cannot be read ({type(error).__name__}: {error})")) from None
        from moto.backends import get_backend

        for service, backends in state["backends"].items():
            target = get_backend(service)
            target.clear()
            target.update(backends)
        self._clock.set(datetime.now(timezone.utc) + state["clock_offset"])
        return True

    def _refusal(self, reason: str) -> str:
        return (f"the local state {self.path} is refused: {reason}. It is kept as it is; move it away "
                "to start afresh, or choose another --data-dir, or run with --ephemeral")

    # --- save ------------------------------------------------------------------------------

    def save(self) -> None:
        """Snapshot now (one at a time), between two AWS calls."""
        with self._save_lock:
            started = time.monotonic()
            from moto.backends import get_backend

            buffer = io.BytesIO()
            buffer.write(MAGIC)
            pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = _lock_types()
            with self._moto.lock:
                changes = self._changes()
                offset = self._clock.now() - datetime.now(timezone.utc)
                pickler.dump({"backends": {service: dict(get_backend(service)) for service in SERVICES},
                              "clock_offset": _rounded(offset)})
            _write_atomically(self.path, buffer.getbuffer())
            self._saved_changes = changes
            self.last_save_s = time.monotonic() - started

    def _save_if_changed(self) -> bool:
        if self._changes() != self._saved_changes:
            self.save()
        return False

    def start(self) -> StateStore:
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stop saving in the background, then save what changed since the last snapshot."""
        self._loop.stop()
        self._save_if_changed()


def _rounded(offset: timedelta) -> timedelta:
    return timedelta(seconds=round(offset.total_seconds(), 3))


def _write_atomically(path: Path, data: memoryview) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
