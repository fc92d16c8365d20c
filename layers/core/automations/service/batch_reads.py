"""Reads a batch of runs repeats, made once per batch.

The executor takes ten runs a message batch, usually of one automation (a time bucket queues a
minute's runs together). Each run re-reads its automation and the template it sends; all of an
account's automations and templates live under its one partition key, which serves 3,000 read
units a second. Within one batch (seconds, one invocation) those reads are made once: a change
to the automation during the batch is seen by the next batch, as it would be had the runs
started a moment earlier. Outside a batch, every read goes through."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class BatchReads:
    def __init__(self) -> None:
        self._memo: dict[tuple, Any] | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def once(self, read: Callable[..., Any]) -> Callable[..., Any]:
        """``read``, answered from the batch's memory when it was made with these arguments."""
        def call(*args: Any) -> Any:
            if self._memo is None:
                return read(*args)
            key = (read, args)
            if key not in self._memo:
                self._memo[key] = read(*args)
            return self._memo[key]
        return call

    def service(self, service: Any, *names: str) -> Any:
        """``service`` whose ``names`` methods are read once per batch."""
        return _Reading(service, {name: self.once(getattr(service, name)) for name in names})


class _Reading:
    def __init__(self, service: Any, once: dict[str, Callable[..., Any]]) -> None:
        self._service, self._once = service, once

    def __getattr__(self, name: str) -> Any:
        return self._once[name] if name in self._once else getattr(self._service, name)
