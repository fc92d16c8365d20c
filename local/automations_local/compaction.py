"""The files of the local state (see persistence.py), and folding them together.

``state.base`` holds the whole state as of the end of journal number ``through``; each
``journal.NNNNNNNN`` holds records, each framed by its length and CRC-32. The state is the base
with every later journal's records applied in order. Only the last journal can end with a record
torn by a crash: it is cut off at the next start.

``python -m automations_local.compaction DIR N`` folds the base and the journals up to N into a
new base (temporary file, flushed, renamed), then deletes those journals. It imports nothing but
the standard library: items stay the opaque bytes the runtime pickled."""
from __future__ import annotations

import fcntl
import os
import pickle
import struct
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

BASE = "state.base"
BASE_MAGIC = b"automations-local base 2\n"
JOURNAL_MAGIC = b"automations-local journal 2\n"
JOURNAL_PREFIX = "journal."
LOCK = "state.lock"
_FRAME = struct.Struct(">QI")  # payload length, CRC-32 of the payload
_THROUGH = struct.Struct(">Q")


class StateError(Exception):
    """A state that cannot be used (the message says which and what to do)."""


@dataclass(frozen=True)
class Record:
    """What changed between two cuts: items by key (None: deleted), services whole, and the
    clock's offset. ``everything``: the record is the whole state, not changes to it."""

    items: dict[tuple, bytes | None]
    services: dict[str, bytes]
    everything: bool
    clock_offset: timedelta


@dataclass
class State:
    items: dict[tuple, bytes] = field(default_factory=dict)
    services: dict[str, bytes] = field(default_factory=dict)
    clock_offset: timedelta = timedelta(0)

    def apply(self, record: Record) -> None:
        if record.everything:
            self.items.clear()
            self.services.clear()
        for key, data in record.items.items():
            if data is None:
                self.items.pop(key, None)
            else:
                self.items[key] = data
        self.services.update(record.services)
        self.clock_offset = record.clock_offset


# --- the journal -----------------------------------------------------------------------------------

class Journal:
    """The journal records are appended to, each flushed to disk before the next."""

    def __init__(self, path: Path, generation: int) -> None:
        self.path, self.generation = path, generation
        self._file = open(path, "ab")  # noqa: SIM115 - open while the runtime runs
        self.size = self._file.tell()

    @classmethod
    def start(cls, directory: Path) -> Journal:
        """A new journal, numbered after every journal and base there."""
        generation = max([through_of(directory / BASE), *_journals(directory)], default=0) + 1
        path = directory / f"{JOURNAL_PREFIX}{generation:08d}"
        with open(path, "wb") as new:
            new.write(JOURNAL_MAGIC)
            _flushed(new)
        _sync_directory(directory)
        return cls(path, generation)

    def append(self, record: Record) -> None:
        payload = pickle.dumps((record.items, record.services, record.everything, record.clock_offset),
                               protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
        _flushed(self._file)
        self.size = self._file.tell()

    def close(self) -> None:
        self._file.close()


def _records(path: Path, *, last: bool) -> Iterator[Record | int]:
    """The records of a journal; at a torn end (allowed in the ``last`` journal only, the one a
    crash interrupted) the length of what is whole, to cut it there."""
    with open(path, "rb") as journal:
        if journal.read(len(JOURNAL_MAGIC)) != JOURNAL_MAGIC:
            raise StateError(f"{path.name} is not a journal of this version")
        whole = journal.tell()
        while header := journal.read(_FRAME.size):
            if len(header) == _FRAME.size:
                length, crc = _FRAME.unpack(header)
                payload = journal.read(length)
                if len(payload) == length and zlib.crc32(payload) == crc:
                    yield Record(*pickle.loads(payload))
                    whole = journal.tell()
                    continue
            if not last:
                raise StateError(f"{path.name} is damaged at byte {whole}")
            yield whole
            return


def _journals(directory: Path) -> dict[int, Path]:
    found = {}
    for path in directory.glob(JOURNAL_PREFIX + "*"):
        suffix = path.name[len(JOURNAL_PREFIX):]
        if suffix.isdigit():
            found[int(suffix)] = path
    return found


# --- the base --------------------------------------------------------------------------------------

def through_of(path: Path) -> int:
    """The last journal a base holds (0: no base)."""
    if not path.exists():
        return 0
    with open(path, "rb") as base:
        if base.read(len(BASE_MAGIC)) != BASE_MAGIC:
            raise StateError(f"{path.name} is not a state file of this version")
        return _THROUGH.unpack(base.read(_THROUGH.size))[0]


def base_size(directory: Path) -> int:
    path = directory / BASE
    return path.stat().st_size if path.exists() else 0


def _read_base(path: Path) -> State:
    through_of(path)  # refuses another version's file
    with open(path, "rb") as base:
        base.seek(len(BASE_MAGIC) + _THROUGH.size)
        try:
            items, services, offset = pickle.load(base)
        except Exception as error:  # truncated or corrupt
            raise StateError(f"{path.name} cannot be read ({type(error).__name__}: {error})") from None
    return State(items, services, offset)


def read_state(directory: Path, *, repair: bool = False, through: int | None = None) -> State | None:
    """The saved state (None: nothing saved yet), from the base and the journals after it (up
    to ``through``). ``repair``: cut a torn record off the end of the last journal."""
    with _locked(directory):
        base = directory / BASE
        state = _read_base(base) if base.exists() else State()
        journals = sorted((n, path) for n, path in _journals(directory).items()
                          if n > through_of(base) and (through is None or n <= through))
        if not base.exists() and not journals:
            return None
        for position, (_, path) in enumerate(journals):
            for record in _records(path, last=position == len(journals) - 1 and through is None):
                if isinstance(record, int):
                    if repair:
                        os.truncate(path, record)
                    break
                state.apply(record)
        return state


def fold(directory: Path, through: int) -> None:
    """Write the base as of the end of journal ``through``, then delete the journals it holds."""
    state = read_state(directory, through=through)
    if state is None:
        return
    temporary = directory / f"{BASE}.{os.getpid()}.tmp"
    with open(temporary, "wb") as new:
        new.write(BASE_MAGIC + _THROUGH.pack(through))
        pickle.dump((state.items, state.services, state.clock_offset), new, protocol=pickle.HIGHEST_PROTOCOL)
        _flushed(new)
    with _locked(directory):
        if through_of(directory / BASE) >= through:  # another fold got further first
            temporary.unlink()
            return
        os.replace(temporary, directory / BASE)
        _sync_directory(directory)
        for number, path in _journals(directory).items():
            if number <= through:
                path.unlink()


# --- files -----------------------------------------------------------------------------------------

@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Reading the files, and replacing the base, exclude each other (across processes)."""
    with open(directory / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _flushed(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())


def _sync_directory(directory: Path) -> None:
    """A file created or renamed there survives a power cut."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def main(argv: list[str]) -> int:
    directory, through = argv
    fold(Path(directory), int(through))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

