"""Native API shapes (/v1) for contacts, contact lists, communities, custom fields and templates.
The models check types and sizes; what a valid record is stays in the domain (422 either way)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from automations.domain.contacts import Contact, CustomField, Group, MembersAdded, Membership, Template
from automations.surfaces.native_models import Input, Model


def _name():
    return Field(min_length=1, max_length=200)


# -- contacts ------------------------------------------------------------------------------------
class ContactIn(Input):
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40, description="normalised to E.164: +, then 8-15 digits")
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64, description="IANA name, e.g. Europe/Amsterdam")
    custom_fields: dict[str, Any] | None = Field(None, max_length=500,
                                                 description="{custom field id: value}; null removes a value")


class ContactOut(Model):
    uuid: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ContactPage(Model):
    contacts: list[ContactOut]
    next_cursor: str | None


def contact_out(c: Contact) -> ContactOut:
    return ContactOut(uuid=c.uuid, email=c.email, phone=c.phone, first_name=c.first_name, last_name=c.last_name,
                      timezone=c.timezone, custom_fields=c.custom_fields, created_at=c.created_at,
                      updated_at=c.updated_at)


# -- contact lists and communities ----------------------------------------------------------------
class ContactListIn(Input):
    name: str = _name()


class ContactListPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)


class ContactListOut(Model):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime


class ContactListPage(Model):
    contact_lists: list[ContactListOut]
    next_cursor: str | None


SuiteType = Literal["suite", "community", "party"]


class CommunityIn(Input):
    name: str = _name()
    suite_type: SuiteType


class CommunityPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    suite_type: SuiteType | None = None


class CommunityOut(Model):
    id: int
    name: str
    suite_type: SuiteType
    created_at: datetime
    updated_at: datetime


class CommunityPage(Model):
    communities: list[CommunityOut]
    next_cursor: str | None


def contact_list_out(g: Group) -> ContactListOut:
    return ContactListOut(id=g.id, name=g.name, created_at=g.created_at, updated_at=g.updated_at)


def community_out(g: Group) -> CommunityOut:
    return CommunityOut(id=g.id, name=g.name, suite_type=g.suite_type, created_at=g.created_at,
                        updated_at=g.updated_at)


class MembersIn(Input):
    contact_uuids: list[str] = Field(min_length=1, max_length=1000)


class MembersAddedOut(Model):
    added: list[str] = Field(description="joined now: one join event each")
    already_members: list[str]
    not_found: list[str] = Field(description="no such contact in this account: skipped, not fatal")


class MemberOut(Model):
    contact_uuid: str
    joined_at: datetime


class MemberPage(Model):
    members: list[MemberOut]
    next_cursor: str | None


def members_added_out(outcome: MembersAdded) -> MembersAddedOut:
    return MembersAddedOut(added=outcome.added, already_members=outcome.already_members, not_found=outcome.not_found)


def member_page(members: list[Membership], next_cursor: str | None) -> MemberPage:
    return MemberPage(members=[MemberOut(contact_uuid=m.contact_uuid, joined_at=m.joined_at) for m in members],
                      next_cursor=next_cursor)


# -- custom fields ---------------------------------------------------------------------------------
FieldScopeName = Literal["contact", "other"]
FieldTypeName = Literal["text", "number", "date", "checkbox", "dropdown"]


class CustomFieldIn(Input):
    name: str = _name()
    scope: FieldScopeName
    type: FieldTypeName
    options: list[str] | None = Field(None, max_length=200, description="dropdown fields only, required there")


class CustomFieldPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    options: list[str] | None = Field(None, max_length=200)
    scope: FieldScopeName | None = Field(None, description="cannot change")
    type: FieldTypeName | None = Field(None, description="cannot change")


class CustomFieldOut(Model):
    id: int
    name: str
    scope: FieldScopeName
    type: FieldTypeName
    options: list[str]
    created_at: datetime
    updated_at: datetime


class CustomFieldPage(Model):
    custom_fields: list[CustomFieldOut]
    next_cursor: str | None


def custom_field_out(f: CustomField) -> CustomFieldOut:
    return CustomFieldOut(id=f.id, name=f.name, scope=f.scope.value, type=f.type.value, options=list(f.options),
                          created_at=f.created_at, updated_at=f.updated_at)


# -- templates -------------------------------------------------------------------------------------
class SeriesStepModel(Input):
    template_id: int = Field(description="an email template of this account")
    delay_days: int = Field(0, description="after the previous step (the first: after the series starts)")
    hour: int | None = Field(None, description="1-12; without a send time a delayed step goes at 10:00")
    min: int | None = Field(None, description="0-59")
    ampm: Literal["am", "pm"] | None = None
    weekdays_only: bool = False


class TemplateIn(Input):
    title: str = _name()
    type: Literal["email", "text", "series"]
    subject: str | None = Field(None, description="email; Liquid")
    html: str | None = Field(None, description="email; Liquid")
    text: str | None = Field(None, description="email; Liquid")
    body: str | None = Field(None, description="text; Liquid")
    steps: list[SeriesStepModel] | None = Field(None, max_length=50, description="series, in order")


class TemplatePatch(Input):
    title: str | None = Field(None, min_length=1, max_length=200)
    type: Literal["email", "text", "series"] | None = Field(None, description="cannot change")
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None
    steps: list[SeriesStepModel] | None = Field(None, max_length=50)


class TemplateOut(Model):
    id: int
    title: str
    type: Literal["email", "text", "series"]
    subject: str | None
    html: str | None
    text: str | None
    body: str | None
    steps: list[SeriesStepModel]
    created_at: datetime
    updated_at: datetime


class TemplatePage(Model):
    templates: list[TemplateOut]
    next_cursor: str | None


def template_values(model: BaseModel, *, partial: bool) -> dict[str, Any]:
    return model.model_dump(exclude_unset=partial, exclude_none=not partial)


def template_out(t: Template) -> TemplateOut:
    return TemplateOut(id=t.id, title=t.title, type=t.type.value, subject=t.subject, html=t.html, text=t.text,
                       body=t.body, steps=[SeriesStepModel(**vars(s)) for s in t.steps], created_at=t.created_at,
                       updated_at=t.updated_at)
