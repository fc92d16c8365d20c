"""A webhook an account registers so its automations can call it; the secret signs each call."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Webhook:
    account_id: str
    id: str
    name: str
    url: str
    secret: str
    created_at: datetime
