"""The one clock all product code reads. Lambda uses the system clock; the local runtime and
tests install a movable one with ``set_clock``."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class MovableClock:
    """Real time shifted by an offset that can be advanced or set; thread-safe."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if frozen:
            self.freeze()
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(timezone.utc) + self._offset

    def set(self, when: datetime) -> datetime:
        when = ensure_utc(when)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = when
            else:
                self._offset = when - datetime.now(timezone.utc)
        return when

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    def sleep(self, seconds: float) -> None:
        """A frozen clock is moved on instead of waited for."""
        if self._frozen_at is not None:
            self.advance(seconds)
        else:
            time.sleep(seconds)

    @property
    def offset(self) -> timedelta:
        """How far this clock is from real time (ahead when positive)."""
        return self.now() - datetime.now(timezone.utc)

    def to_real_time(self) -> datetime:
        """Back to real time exactly (a frozen clock stays frozen, at real time)."""
        with self._lock:
            self._offset = timedelta(0)
            if self._frozen_at is not None:
                self._frozen_at = datetime.now(timezone.utc)
        return self.now()

    def freeze(self) -> None:
        with self._lock:
            self._frozen_at = datetime.now(timezone.utc) + self._offset


def ensure_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("a time must carry its timezone")
    return when.astimezone(timezone.utc)


_clock: Clock = SystemClock()


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock


def get_clock() -> Clock:
    return _clock


def now() -> datetime:
    return _clock.now()


def sleep(seconds: float) -> None:
    """Wait ``seconds`` on the one clock (a frozen test clock moves on instead)."""
    _clock.sleep(seconds)


def iso_z(when: datetime) -> str:
    """ISO-8601 to the second in UTC with ``Z`` (Zendesk's and the native API's format)."""
    return ensure_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def sortable(when: datetime) -> str:
    """ISO-8601 in UTC to the microsecond, always the same width, so that as text (a DynamoDB
    sort key) it sorts as the instants do."""
    return ensure_utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 instant; it must carry a timezone (``Z`` or an offset)."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return ensure_utc(when)
