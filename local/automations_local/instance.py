"""A running local runtime as other processes see it. A data folder is used by one runtime at a
time: it holds a lock on ``runtime.lock`` while it runs (the system frees it when the process
ends, however it ends). Once serving, it writes ``runtime.json`` beside its state: where it
answers, its AWS endpoint and table, and the development account and key, so that the CLI works
against it with no set-up. Local only: the file is readable by its owner alone."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "AUTOMATIONS_DATA_DIR"  # the folder serve and the CLI use, when not given
DEFAULT_DATA_DIR = ".automations-local"  # beside the project, git-ignored
LOCK_FILE = "runtime.lock"
INFO_FILE = "runtime.json"


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR


class FolderInUse(RuntimeError):
    pass


class Claim:
    """This process's hold on a data folder, taken before its state is read."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.folder = Path(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.folder / LOCK_FILE, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "unknown"
            self._lock.close()
            raise FolderInUse(
                f"another local runtime (process {holder}) is using the data folder {self.folder.resolve()}: "
                "stop it first, or start this one with --data-dir DIR (another folder) or --ephemeral") from None
        self._lock.truncate(0)
        self._lock.write(str(os.getpid()))
        self._lock.flush()

    def publish(self, info: dict[str, Any]) -> None:
        """Write runtime.json (whole, owner-only) for the CLI."""
        path = self.folder / INFO_FILE
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"pid": os.getpid(), **info}, file, indent=2)
        os.replace(temporary, path)

    def release(self) -> None:
        (self.folder / INFO_FILE).unlink(missing_ok=True)
        self._lock.truncate(0)
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def running(data_dir: str | os.PathLike) -> dict[str, Any] | None:
    """What the runtime serving from ``data_dir`` published, or None when none runs there (a file
    left by a runtime that was killed is not believed: its lock is free)."""
    folder = Path(data_dir)
    try:
        with open(folder / LOCK_FILE) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: a runtime is running
                return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
            fcntl.flock(lock, fcntl.LOCK_UN)
            return None
    except (FileNotFoundError, ValueError):
        return None
