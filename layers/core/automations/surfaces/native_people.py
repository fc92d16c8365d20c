"""Native API shapes (/v1) for users and agent groups. The models check types and sizes; what a
valid user or group is stays in service/people.py (422 either way)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from automations.domain.user import MAX_GROUP_MEMBERS, AgentGroup, User
from automations.surfaces.native_models import Input, Model

__all__ = ["GroupIn", "GroupOut", "GroupPage", "GroupPatch", "UserIn", "UserOut", "UserPage", "UserPatch",
           "group_out", "user_out"]

RoleName = Literal["agent", "end-user"]
# strict: "7", 7.0 and true are not user ids
UserId = Annotated[int, Field(strict=True, ge=1, le=10 ** 12 - 1)]


# -- users ----------------------------------------------------------------------------------------
class UserIn(Input):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    role: RoleName = Field("agent", description="agents can be assigned tickets and join groups")


class UserPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: RoleName | None = None


class UserOut(Model):
    id: int
    name: str
    email: str | None = Field(description="null for an end-user known by name only (made through the Zendesk API)")
    role: RoleName
    created_at: datetime


class UserPage(Model):
    users: list[UserOut]
    next_cursor: str | None


def user_out(u: User) -> UserOut:
    return UserOut(id=u.id, name=u.name, email=u.email, role=u.role.value, created_at=u.created_at)


# -- agent groups ---------------------------------------------------------------------------------
class GroupIn(Input):
    name: str = Field(min_length=1, max_length=200)
    user_ids: list[UserId] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS,
                                   description="agents of this account")


class GroupPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    user_ids: list[UserId] | None = Field(None, max_length=MAX_GROUP_MEMBERS, description="replaces the members")


class GroupOut(Model):
    id: int
    name: str
    user_ids: list[int]
    created_at: datetime
    updated_at: datetime


class GroupPage(Model):
    groups: list[GroupOut]
    next_cursor: str | None


def group_out(g: AgentGroup) -> GroupOut:
    return GroupOut(id=g.id, name=g.name, user_ids=list(g.user_ids), created_at=g.created_at,
                    updated_at=g.updated_at)
