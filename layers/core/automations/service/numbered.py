"""Records with per-account integer ids (lists, communities, custom fields, templates, agent
groups): what their services share, apart from any one of them, so that each loads only its own."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from automations import clock
from automations.errors import Conflict, NotFound, Problems, found
from automations.store_refusals import StaleWrite

if TYPE_CHECKING:
    from automations.ports import NumberedStore

T = TypeVar("T")
_WRITE_ATTEMPTS = 3


def retry_stale(write: Callable[[], T]) -> T:
    """Read-modify-write under optimistic locking: retry a lost race a few times."""
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            return write()
        except StaleWrite:
            if attempt == _WRITE_ATTEMPTS - 1:
                raise Conflict("the record was changed by another request; try again") from None
    raise AssertionError("unreachable")


class NumberedService(Generic[T]):
    """Create/read/list/update/delete of records with per-account integer ids. Subclasses say
    what a valid record is (``_normalized``)."""

    noun = "record"

    def __init__(self, store: NumberedStore[T]) -> None:
        self._store = store

    def get(self, account_id: str, item_id: int) -> T:
        return found(self._store.get(account_id, item_id) if 0 < item_id < 10 ** 12 else None, f"{self.noun} {item_id}")

    def find(self, account_id: str, item_id: int) -> T | None:
        try:
            return self.get(account_id, item_id)
        except NotFound:
            return None

    def list(self, account_id: str) -> list[T]:
        return sorted(self._store.list(account_id), key=lambda item: item.id)

    def delete(self, account_id: str, item_id: int) -> None:
        retry_stale(lambda: self._store.delete(self.get(account_id, item_id)))

    def _create(self, account_id: str, build: Callable[[int, datetime], T]) -> T:
        provisional = self._checked(build(0, clock.now()))  # a refused record burns no id
        record = replace(provisional, id=self._store.next_id(account_id))
        self._store.insert(record)
        return record

    def _update(self, account_id: str, item_id: int, change: Callable[[T], T]) -> T:
        def attempt() -> T:
            old = self.get(account_id, item_id)
            new = self._checked(change(old))
            if new == old:
                return old
            new = replace(new, updated_at=clock.now(), version=old.version + 1)
            self._store.replace(old, new)
            return new

        return retry_stale(attempt)

    def _checked(self, record: T) -> T:
        problems = Problems()
        record = self._normalized(record, problems)
        problems.raise_if_any()
        return record

    def _normalized(self, record: T, problems: Problems) -> T:
        """``record`` with its attributes normalised; what is wrong goes to ``problems``."""
        raise NotImplementedError
