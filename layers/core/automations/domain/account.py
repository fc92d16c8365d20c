"""Accounts and who calls on their behalf: what every surface and the authorizer need of an
account, apart from the automations' model. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    email: str
    timezone: str
    created_at: datetime
    # Business-hours schedule for *_business_hours conditions: {"schedule": [[[start_min, end_min]...] x 7]}
    # in the account's timezone; empty means Mon-Fri 09:00-17:00.
    business_hours: dict[str, Any] = field(default_factory=dict)
    # The zone before a change of ``timezone``, until what waits on the account's clock follows it.
    previous_timezone: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account an API key resolved to."""

    account_id: str
    key_id: str
    email: str


@dataclass(frozen=True)
class ApiKey:
    """A stored API key: only its SHA-256 is kept; the key itself is shown once at creation."""

    key_hash: str
    key_id: str
    account_id: str
    email: str
    created_at: datetime
    revoked: bool = False
