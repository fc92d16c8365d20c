"""The people tickets name (requester, submitter, assignee): enough of Zendesk's user for
requesters found or created by email and for notifications to address and greet them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_GROUP_MEMBERS = 1000  # agents in a group: one group item (ids as JSON) stays far below DynamoDB's 400 KB


class Role(StrEnum):
    END_USER = "end-user"
    AGENT = "agent"


@dataclass(frozen=True)
class User:
    account_id: str
    id: int
    name: str
    email: str  # lower case; unique within the account
    role: Role
    created_at: datetime
