"""Composition root: wires services to their adapters once per process (warm Lambda reuse)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from automations import config
from automations.adapters import aws
from automations.adapters.dynamo import DynamoAccountStore, DynamoAutomationStore
from automations.adapters.channels import SesEmailSender, WebhookSender
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.adapters.dynamo_runs import DynamoRunStore
from automations.adapters.dynamo_sweep import DynamoFiringStore
from automations.adapters.dynamo_tickets import DynamoTicketStore, DynamoUserStore
from automations.adapters.sqs import SqsSweepQueue
from automations.adapters.dynamo_webhooks import DynamoWebhookStore
from automations.adapters.dynamo_people import agent_group_store
from automations.adapters.dynamo_contacts import (
    DynamoContactEventLog, DynamoContactStore, DynamoGroupStore, custom_field_store, template_store,
)
from automations.domain.contacts import GroupKind
from automations.service.contacts import (
    ContactAutomationService, ContactService, CustomFieldService, GroupService, TemplateService,
)
from automations.service.events import ContactEvents
from automations.service.accounts import AccountService
from automations.service.automations import AutomationService
from automations.domain.delivery import Channel
from automations.service.deliveries import DeliveryService
from automations.service.runs import RunService
from automations.service.sweep import SweepCoordinator, SweepWorker
from automations.service.people import AgentGroupService, UserService
from automations.service.tickets import TicketService
from automations.service.webhooks import WebhookService


@dataclass(frozen=True)
class Services:
    accounts: AccountService
    automations: AutomationService
    runs: RunService
    webhooks: WebhookService
    tickets: TicketService
    users: UserService
    agent_groups: AgentGroupService  # Zendesk's groups of agents, not contact lists
    # the contact side (issue 4)
    contacts: ContactService
    contact_lists: GroupService
    communities: GroupService
    custom_fields: CustomFieldService
    templates: TemplateService
    contact_events: ContactEvents
    contact_automations: ContactAutomationService


@functools.cache
def services() -> Services:
    db, table = aws.client("dynamodb"), config.table_name()
    runs = DynamoRunStore(db, table)
    automations = AutomationService(DynamoAutomationStore(db, table), usage=runs.count_since)
    accounts = AccountService(DynamoAccountStore(db, table),
                              on_account_created=lambda account: automations.install_defaults(account.id))
    return Services(accounts=accounts, automations=automations, runs=RunService(runs),
                    webhooks=WebhookService(DynamoWebhookStore(db, table)),
                    tickets=TicketService(DynamoTicketStore(db, table), DynamoUserStore(db, table)),
                    **_people_services(db, table), **_contact_services(db, table, automations))


def _people_services(db, table: str) -> dict:
    users = DynamoUserStore(db, table)
    groups = AgentGroupService(agent_group_store(db, table), users)
    return {"users": UserService(users, groups), "agent_groups": groups}


def _contact_services(db, table: str, automations: AutomationService) -> dict:
    events = ContactEvents(DynamoContactEventLog(db, table))
    lists = GroupService(GroupKind.LIST, DynamoGroupStore(db, table, GroupKind.LIST), events)
    communities = GroupService(GroupKind.COMMUNITY, DynamoGroupStore(db, table, GroupKind.COMMUNITY), events)
    fields = CustomFieldService(custom_field_store(db, table))
    templates = TemplateService(template_store(db, table))
    return {"contacts": ContactService(DynamoContactStore(db, table), fields), "contact_lists": lists,
            "communities": communities, "custom_fields": fields, "templates": templates, "contact_events": events,
            "contact_automations": ContactAutomationService(automations, lists, communities, fields, templates)}


@functools.cache
def deliveries() -> DeliveryService:
    db, table = aws.client("dynamodb"), config.table_name()
    users = DynamoUserStore(db, table)

    def user_record(account_id: str, user_id: int) -> dict | None:
        user = users.get(account_id, user_id)
        return {"id": user.id, "name": user.name, "email": user.email} if user else None

    senders = {Channel.EMAIL: SesEmailSender(aws.client("sesv2"), config.sender_email()),
               Channel.WEBHOOK: WebhookSender(services().webhooks.find)}
    return DeliveryService(DynamoDeliveryStore(db, table), senders, user_record,
                           group_members=services().agent_groups.members)


@functools.cache
def _firing_store() -> DynamoFiringStore:
    db, table = aws.client("dynamodb"), config.table_name()
    return DynamoFiringStore(db, table, DynamoTicketStore(db, table), DynamoRunStore(db, table),
                             DynamoDeliveryStore(db, table))


@functools.cache
def sweep_queue() -> SqsSweepQueue:
    return SqsSweepQueue(aws.client("sqs"), config.sweep_queue_url())


def sweep_coordinator() -> SweepCoordinator:
    return SweepCoordinator(services().accounts.account_ids, sweep_queue())


@functools.cache
def sweep_worker() -> SweepWorker:
    db, table = aws.client("dynamodb"), config.table_name()
    return SweepWorker(accounts=services().accounts, automations=services().automations,
                       tickets=DynamoTicketStore(db, table), firings=_firing_store(), notifier=deliveries())


def sweep_summary(sweep_id: str) -> dict[str, int]:
    return _firing_store().summary(sweep_id)


def reset() -> None:
    """Forget wiring and clients (after the environment's endpoint or table changed)."""
    for cached in (services, deliveries, _firing_store, sweep_queue, sweep_worker):
        cached.cache_clear()
    aws.reset_clients()
