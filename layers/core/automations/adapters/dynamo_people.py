"""DynamoDB storage of agent groups: PK=ACCOUNT#<a>, SK=AGENT_GROUP#<id, 12 digits>, one JSON
document holding the name and the member user ids, with a version for optimistic locking; ids
come from the atomic counter COUNTER#AGENT_GROUPS. (Users are in dynamo_tickets.py.)

Members live in the group item rather than in one item per member: "the members of group g" is
then one GetItem, and replacing a membership (PATCH ``user_ids``) is one conditional write, so two
concurrent replacements cannot interleave into a mix of both. A group holds at most
MAX_GROUP_MEMBERS ids, a few KB."""
from __future__ import annotations

from typing import Any

from automations.adapters.dynamo_contacts import NumberedDocuments, dated
from automations.service.people import AgentGroup


def _agent_group(account_id: str, doc: dict[str, Any], version: int) -> AgentGroup:
    return AgentGroup(**{**dated(doc), "user_ids": tuple(doc["user_ids"])}, account_id=account_id, version=version)


def agent_group_store(client, table: str) -> NumberedDocuments[AgentGroup]:
    return NumberedDocuments(client, table, prefix="AGENT_GROUP#", counter="AGENT_GROUPS", load=_agent_group)
