"""Accounts and API keys. Keys are random, stored as SHA-256 hashes, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from automations import clock
from automations.domain.account import Account, ApiKey, Principal
from automations.domain.ticket import Brand
from automations.errors import Conflict, NotFound, Problems, Unauthenticated, found
from automations.domain.person import normalize_email

if TYPE_CHECKING:
    from automations.ports import AccountStore

_KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40


def hash_key(key: str) -> str:
    # Keys carry 238 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def _check_zone(timezone: Any, problems: Problems) -> None:
    if not isinstance(timezone, str) or timezone not in available_timezones():
        problems.add("timezone", f"Timezone: {timezone!r} is not an IANA time zone name")


def new_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


class AccountService:
    def __init__(self, store: AccountStore, on_account_created=None) -> None:
        self._store = store
        self._on_account_created = on_account_created

    def create_account(self, name: str, email: str, timezone: str = "UTC") -> tuple[Account, str]:
        problems = Problems()
        if not isinstance(name, str) or not name.strip():
            problems.add("name", "Name: cannot be blank")
        address = normalize_email(email) if isinstance(email, str) else None
        if address is None:
            problems.add("email", "Email: is not a valid email address")
        _check_zone(timezone, problems)
        problems.raise_if_any()
        account = Account(id=f"acc_{secrets.token_hex(8)}", name=name.strip(),
                          email=address, timezone=timezone, created_at=clock.now())
        self._store.create_account(account)
        if self._on_account_created:
            self._on_account_created(account)
        _, key = self.create_key(account.id)
        return account, key

    def get_account(self, account_id: str) -> Account:
        return found(self._store.get_account(account_id), f"account {account_id}")

    def brands(self, account_id: str) -> list[Brand]:
        """The account's brands: its one default brand."""
        account = self.get_account(account_id)
        return [Brand.default_of(account.name, account.created_at)]

    def brand(self, account_id: str, brand_id: int) -> Brand:
        found = [b for b in self.brands(account_id) if b.id == brand_id]
        if not found:
            raise NotFound(f"brand {brand_id} not found")
        return found[0]

    def change_timezone(self, account_id: str, timezone: str) -> Account:
        """Move the account to another zone (a conditional write, so two changes at once end in
        one of them). The zone it leaves is kept until the account's hourly check has made what
        waits on its clock follow (``zone_followed``): a crash loses nothing."""
        problems = Problems()
        _check_zone(timezone, problems)
        problems.raise_if_any()
        before = self.get_account(account_id)
        if before.timezone == timezone:
            return before
        if not self._store.set_timezone(before, timezone):
            raise Conflict("the account's time zone was changed by another request; try again")
        return replace(before, timezone=timezone, previous_timezone=before.previous_timezone or before.timezone)

    def zone_followed(self, account: Account) -> bool:
        """What waits on the account's clock follows its zone now; False if it changed again meanwhile."""
        return self._store.zone_followed(account)

    def account_page(self, limit: int, after: str | None = None) -> tuple[list[str], str | None]:
        return self._store.account_page(limit, after)

    def key_record(self, key: str) -> ApiKey:
        """The stored record of a key just shown (its id, to revoke it later)."""
        record = self._store.get_key(hash_key(key))
        if record is None:
            raise NotFound("no such API key")
        return record

    def list_keys(self, account_id: str) -> list[ApiKey]:
        """The account's keys (ids, dates, revoked or not; never the keys themselves)."""
        return self._store.list_keys(self.get_account(account_id).id)

    def ensure_account(self, name: str, email: str, api_key: str | None = None) -> tuple[Account, str]:
        """The development account: found by owner email or created, with ``api_key`` valid on it."""
        account = self._store.find_account_by_email(email.strip().lower())
        if account is None:
            account, generated = self.create_account(name, email)
            if api_key is None:
                return account, generated
        if api_key is None:
            _, api_key = self.create_key(account.id)
            return account, api_key
        existing = self._store.get_key(hash_key(api_key))
        if existing is None or existing.revoked:
            self.create_key(account.id, api_key)
        elif existing.account_id != account.id:
            raise Conflict("that API key belongs to another account")
        return account, api_key

    def create_key(self, account_id: str, key: str | None = None) -> tuple[str, str]:
        account = self.get_account(account_id)
        key = key or new_key()
        record = ApiKey(key_hash=hash_key(key), key_id=f"key_{secrets.token_hex(8)}",
                        account_id=account.id, email=account.email, created_at=clock.now())
        self._store.put_key(record)
        return record.key_id, key

    def revoke_key(self, key_id: str) -> None:
        record = self._store.find_key(key_id)
        if record is None:
            raise NotFound(f"API key {key_id} not found")
        self._store.revoke_key(record)

    def authenticate(self, key: str, email: str | None = None) -> Principal:
        if not key:
            raise Unauthenticated("no credentials")
        digest = hash_key(key)
        record = self._store.get_key(digest)
        if record is None or record.revoked or not hmac.compare_digest(record.key_hash, digest):
            raise Unauthenticated("unknown or revoked key")
        if email is not None and not hmac.compare_digest(record.email.encode(), email.strip().lower().encode()):
            raise Unauthenticated("key does not belong to that email")
        return Principal(account_id=record.account_id, key_id=record.key_id, email=record.email)
