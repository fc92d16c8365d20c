"""The people tickets name (requester, submitter, assignee): agents and end-users, as Zendesk has
them. An end-user may have only a name (Zendesk makes such requesters); an email and an external
id, when a user has them, are each unique within the account."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

MAX_GROUP_MEMBERS = 1000  # agents in a group: one group item (ids as JSON) stays far below DynamoDB's 400 KB
MAX_EXTERNAL_ID = 255
MAX_NAME_WORDS = 20  # words of a name a search finds it by (each one small item, written with the user)
MAX_WORD = 64  # a longer word is found by its first 64 characters


class Role(StrEnum):
    END_USER = "end-user"
    AGENT = "agent"


@dataclass(frozen=True)
class User:
    account_id: str
    id: int
    name: str
    email: str | None  # lower case; unique within the account; an end-user may have none
    role: Role
    created_at: datetime
    external_id: str | None = None  # the client's own id for the user; unique within the account
    updated_at: datetime | None = field(default=None, compare=False)  # None: never changed since created
    version: int = field(default=1, compare=False)  # optimistic locking; 0: stored before users had versions

    @property
    def changed_at(self) -> datetime:
        """When the user last changed: its place in the incremental user export."""
        return self.updated_at or self.created_at


@dataclass(frozen=True)
class DeletedUser:
    """A user as it was when deleted: the incremental user export shows it (``active`` false)."""

    user: User
    deleted_at: datetime


@dataclass(frozen=True)
class AgentGroup:  # Zendesk's group: the agents a ticket's group_id and notification_group actions name
    account_id: str
    id: int
    name: str
    user_ids: tuple[int, ...]  # ascending, agents of the account
    created_at: datetime
    updated_at: datetime
    version: int = 1


def name_words(name: str) -> tuple[str, ...]:
    """The words a name search finds the user by: lower case, unique, the first MAX_NAME_WORDS,
    each cut to MAX_WORD characters."""
    return tuple(dict.fromkeys(w[:MAX_WORD] for w in name.lower().split()))[:MAX_NAME_WORDS]


def matches_words(user: User, words: tuple[str, ...]) -> bool:
    """Every one of ``words`` starts a word of the user's name."""
    own = name_words(user.name)
    return all(any(o.startswith(w[:MAX_WORD]) for o in own) for w in words)
