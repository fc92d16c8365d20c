"""Interfaces the service needs from storage; adapters implement them."""
from __future__ import annotations

from typing import Protocol

from automations.domain.model import Account, ApiKey, Automation


class IdenticalActiveAutomation(Exception):
    def __init__(self, existing_id: int | None) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class ActiveLimitReached(Exception):
    pass


class StaleWrite(Exception):
    """The item changed since it was read (optimistic locking)."""


class AccountStore(Protocol):
    def create_account(self, account: Account) -> None:
        """Raises Conflict when the owner email already has an account."""

    def get_account(self, account_id: str) -> Account | None: ...

    def find_account_by_email(self, email: str) -> Account | None: ...

    def put_key(self, key: ApiKey) -> None:
        """Raises Conflict when the key already exists."""

    def get_key(self, key_hash: str) -> ApiKey | None: ...

    def find_key(self, key_id: str) -> ApiKey | None: ...

    def revoke_key(self, key: ApiKey) -> None: ...


class AutomationStore(Protocol):
    def allocate(self, account_id: str, count: int) -> list[tuple[int, int]]:
        """Reserve ``count`` fresh (id, position) pairs, unique under concurrency."""

    def raise_next_position(self, account_id: str, position: int) -> None:
        """Make sure positions allocated later come after ``position``."""

    def get(self, account_id: str, automation_id: int) -> Automation | None: ...

    def list(self, account_id: str) -> list[Automation]: ...

    def insert(self, automation: Automation, max_active: int) -> None:
        """Atomically store a new automation; raises IdenticalActiveAutomation / ActiveLimitReached."""

    def replace(self, old: Automation, new: Automation, max_active: int) -> None:
        """Atomically swap ``old`` (at its version) for ``new``; raises StaleWrite too."""

    def delete(self, automation: Automation) -> None:
        """Raises StaleWrite when the automation changed since it was read."""
