"""Composition root: wires services to their adapters once per process (warm Lambda reuse).

Each service is built, and its modules imported, on first use, so a handler's cold start pays
only for what it touches."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from automations import config
from automations.adapters import aws

if TYPE_CHECKING:
    from automations.service.deliveries import DeliveryService
    from automations.service.sweep import SweepCoordinator, SweepWorker


_wiring = threading.RLock()  # held by every build and by reset()
_UNBUILT = object()
_forgetting: list[Callable[[], None]] = []  # each _once_per_process's forget, for reset()


def _once_per_process(build: Callable[[], object]):
    """``build()`` once per process, until reset(). A build and a reset never overlap: one that
    began just before a reset would otherwise be kept after it, holding the clients it replaced."""
    built = _UNBUILT

    @functools.wraps(build)
    def wired():
        nonlocal built
        if built is _UNBUILT:
            with _wiring:
                if built is _UNBUILT:
                    built = build()
        return built

    def forget() -> None:
        nonlocal built
        built = _UNBUILT

    _forgetting.append(forget)
    return wired


class Services:
    @functools.cached_property
    def _db(self):
        return aws.client("dynamodb")

    @property
    def _table(self) -> str:
        return config.table_name()

    # -- accounts and automations ----------------------------------------------------------------
    @functools.cached_property
    def accounts(self):
        from automations.adapters.dynamo import DynamoAccountStore
        from automations.service.accounts import AccountService

        return AccountService(DynamoAccountStore(self._db, self._table),
                              on_account_created=lambda account: self.automations.install_defaults(account.id))

    @functools.cached_property
    def automations(self):
        from automations.adapters.dynamo import DynamoAutomationStore
        from automations.service.automations import AutomationService

        return AutomationService(DynamoAutomationStore(self._db, self._table), usage=self._run_store.count_since,
                                 on_change=self.automation_changes.changed)

    @functools.cached_property
    def automation_changes(self):
        from automations.service.automation_changes import AutomationChanges

        return AutomationChanges(firings=lambda: self.rule_firings, replanning=lambda: self.replanning)

    @functools.cached_property
    def _run_store(self):
        from automations.adapters.dynamo_runs import DynamoRunStore

        return DynamoRunStore(self._db, self._table)

    @functools.cached_property
    def runs(self):
        from automations.service.runs import RunService

        return RunService(self._run_store)

    @functools.cached_property
    def webhooks(self):
        from automations.adapters.dynamo_webhooks import DynamoWebhookStore
        from automations.service.webhooks import WebhookService

        return WebhookService(DynamoWebhookStore(self._db, self._table))

    # -- tickets and the people they name --------------------------------------------------------
    @functools.cached_property
    def _user_store(self):
        from automations.adapters.dynamo_people import DynamoUserStore

        return DynamoUserStore(self._db, self._table)

    @functools.cached_property
    def _ticket_store(self):
        from automations.adapters.dynamo_tickets import DynamoTicketStore

        return DynamoTicketStore(self._db, self._table)

    @functools.cached_property
    def tickets(self):
        from automations.service.tickets import TicketService

        return TicketService(self._ticket_store, self._user_store)

    @functools.cached_property
    def bulk_jobs(self):
        from automations.adapters.dynamo_jobs import DynamoJobStore
        from automations.adapters.sqs import SqsJobQueue
        from automations.service.jobs import BulkJobService

        queue = SqsJobQueue(lambda: aws.client("sqs"), config.ticket_job_queue_url)
        from automations.surfaces.zendesk_tickets import ticket_draft  # the jobs keep Zendesk's ticket objects

        return BulkJobService(DynamoJobStore(self._db, self._table), self.tickets, self.users, queue, ticket_draft)

    @functools.cached_property
    def users(self):
        from automations.service.people import UserService

        return UserService(self._user_store, self.agent_groups)

    @functools.cached_property
    def agent_groups(self):
        """Zendesk's groups of agents, not contact lists."""
        from automations.adapters.dynamo_people import agent_group_store
        from automations.service.people import AgentGroupService

        return AgentGroupService(agent_group_store(self._db, self._table), self._user_store)

    # -- the contact side ------------------------------------------------------------------------
    @functools.cached_property
    def contact_events(self):
        from automations.adapters.dynamo_contacts import DynamoContactEventLog
        from automations.service.events import ContactEvents

        events = ContactEvents(DynamoContactEventLog(self._db, self._table))
        events.subscribe(lambda joined: self.event_ingestion.joined(joined))  # flow 2: joins start runs, async
        return events

    def _groups(self, kind):
        from automations.adapters.dynamo_contacts import DynamoGroupStore
        from automations.service.contacts import GroupService

        return GroupService(kind, DynamoGroupStore(self._db, self._table, kind), self.contact_events)

    @functools.cached_property
    def contact_lists(self):
        from automations.domain.contacts import GroupKind

        return self._groups(GroupKind.LIST)

    @functools.cached_property
    def communities(self):
        from automations.domain.contacts import GroupKind

        return self._groups(GroupKind.COMMUNITY)

    @functools.cached_property
    def custom_fields(self):
        from automations.adapters.dynamo_contacts import custom_field_store
        from automations.service.contacts import CustomFieldService

        return CustomFieldService(custom_field_store(self._db, self._table))

    @functools.cached_property
    def templates(self):
        from automations.adapters.dynamo_contacts import template_store
        from automations.service.contacts import TemplateService

        return TemplateService(template_store(self._db, self._table))

    @functools.cached_property
    def contacts(self):
        from automations.adapters.dynamo_contacts import DynamoContactStore
        from automations.service.contacts import ContactService

        def replan(change):
            from automations.domain.messages import ContactReplan

            self._run_queue.expand_later([ContactReplan(change.account_id, change.contact_uuid)])

        return ContactService(DynamoContactStore(self._db, self._table), self.custom_fields,
                              lambda: self.event_ingestion, zone_changed=replan)

    @functools.cached_property
    def event_ingestion(self):
        """One path from every event to the run engine: the ingestion queue (SQS) and its function."""
        from automations.adapters.sqs_events import SqsEventQueue
        from automations.service.ingestion import EventIngestion

        return EventIngestion(SqsEventQueue(lambda: aws.client("sqs"), config.events_queue_url),
                              launcher=lambda: self.run_launcher)

    @functools.cached_property
    def contact_automations(self):
        from automations.service.contact_automations import ContactAutomationService

        return ContactAutomationService(self.automations, self.contact_lists, self.communities, self.custom_fields,
                                        self.templates)

    @functools.cached_property
    def native_automations(self):
        from automations.service.native_automations import NativeAutomationService

        return NativeAutomationService(self.automations, self.contact_automations, self.custom_fields, self.templates,
                                       self.webhooks.find)

    @functools.cached_property
    def dry_run(self):
        from automations.service.contact_actions import Composer
        from automations.service.native_automations import DryRun

        return DryRun(self.accounts, self.tickets, self.contacts, lambda: self.deliveries,
                      preview=Composer(self.templates.find).preview)

    # -- data migrations -------------------------------------------------------------------------
    @functools.cached_property
    def migrations(self):
        from automations.adapters import migration_state
        from automations.adapters.dynamo_migrations import DynamoMigrationStore, migrations
        from automations.service.migrations import Migrations

        return Migrations(DynamoMigrationStore(self._db, self._table), self.accounts.account_page,
                          migrations(self._db, self._table),
                          finished=functools.partial(migration_state.learned_finished, self._table))

    # -- the run engine --------------------------------------------------------------------------
    @functools.cached_property
    def _run_queue(self):
        from automations.adapters.sqs import SqsRunQueue

        return SqsRunQueue(aws.client("sqs"), config.run_queue_url(), config.expand_queue_url())

    @functools.cached_property
    def time_buckets(self):
        """The run engine's scheduler: per-run schedules, or time buckets when many are due."""
        from automations.adapters.scheduler import EventBridgeRunScheduler
        from automations.service.time_buckets import TimeBuckets

        scheduler = EventBridgeRunScheduler(
            functools.partial(aws.client, "scheduler"), group=config.run_schedule_group(),
            executor_arn=config.run_executor_arn(), expander_arn=config.rule_expander_arn(),
            role_arn=config.scheduler_role_arn(), dead_letter_arn=config.schedule_dead_letter_arn())
        return TimeBuckets(scheduler, self._run_store, self._run_queue)

    @functools.cached_property
    def run_reads(self):
        """``with run_reads.batch():`` the executor's batch reads each automation and template once."""
        from automations.service.batch_reads import BatchReads

        return BatchReads()

    # Inside ``run_reads.batch()``, what the run engine's parts read of these is read once.
    @functools.cached_property
    def _batch_accounts(self):
        return self.run_reads.service(self.accounts, "get_account")

    @functools.cached_property
    def _batch_automations(self):
        return self.run_reads.service(self.automations, "find")

    @functools.cached_property
    def run_launcher(self):
        """Runs made from triggers (flow 2)."""
        from automations.domain.contact_conditions import matches
        from automations.service.launching import RunLauncher

        return RunLauncher(store=self._run_store, accounts=self._batch_accounts, automations=self._batch_automations,
                           contacts=self.contacts, scheduler=self.time_buckets, queue=self._run_queue,
                           conditions=matches)

    @functools.cached_property
    def run_executor(self):
        """Runs executed, cancelled and re-driven (flow 3)."""
        from automations.domain.contact_conditions import matches
        from automations.service.executing import RunExecutor

        return RunExecutor(
            store=self._run_store, accounts=self._batch_accounts, automations=self._batch_automations,
            contacts=self.contacts, groups=self._member_groups,
            templates=self.run_reads.service(self.templates, "find"), deliveries=self.deliveries,
            outbox=self._delivery_store, scheduler=self.time_buckets, queue=self._run_queue, conditions=matches,
            launcher=self.run_launcher)

    @property
    def _member_groups(self):
        from automations.domain.contacts import GroupKind

        return {GroupKind.LIST: self.contact_lists, GroupKind.COMMUNITY: self.communities}

    @functools.cached_property
    def rule_firings(self):
        """Recurring and date-field automations' schedules and expansions (flow 5)."""
        from automations.service.firings import RuleFirings

        return RuleFirings(accounts=self._batch_accounts, automations=self._batch_automations, contacts=self.contacts,
                           groups=self._member_groups, scheduler=self.time_buckets, queue=self._run_queue,
                           launcher=self.run_launcher)

    @functools.cached_property
    def replanning(self):
        """Waiting runs following their send window and their contact's or account's zone."""
        from automations.service.replanning import Replanner

        return Replanner(store=self._run_store, accounts=self._batch_accounts, automations=self._batch_automations,
                         contacts=self.contacts, queue=self._run_queue, scheduler=self.time_buckets,
                         hand_on=self.run_launcher.hand_on)

    @functools.cached_property
    def hourly_check(self):
        """Each account's hourly check of what a failure can have left undone."""
        from automations.service.hourly_check import HourlyCheck

        return HourlyCheck(event_log=self.contact_events, launcher=self.run_launcher, firings=self.rule_firings,
                           replanning=self.replanning, queue=self._run_queue)

    # -- deliveries --------------------------------------------------------------------------------
    @functools.cached_property
    def _delivery_store(self):
        from automations.adapters.dynamo_deliveries import DynamoDeliveryStore

        return DynamoDeliveryStore(self._db, self._table)

    @functools.cached_property
    def deliveries(self) -> DeliveryService:
        from automations.adapters.channels import (
            EventBusSender, SesEmailSender, SnsSmsSender, WebhookSender, ses_send_rate,
        )
        from automations.adapters.dynamo_deliveries import DynamoSendPace
        from automations.domain.delivery import Channel
        from automations.service.deliveries import DeliveryService

        def user_record(account_id: str, user_id: int) -> dict | None:
            user = self._user_store.get(account_id, user_id)
            return {"id": user.id, "name": user.name, "email": user.email} if user else None

        senders = {Channel.EMAIL: SesEmailSender(functools.partial(aws.client, "sesv2"), config.sender_email()),
                   Channel.WEBHOOK: WebhookSender(self.webhooks.find, **_WEBHOOK_CALLS),
                   Channel.SMS: SnsSmsSender(functools.partial(aws.client, "sns"), config.sms_allowed_country_codes()),
                   Channel.EVENT: EventBusSender(functools.partial(aws.client, "events"), config.event_bus_name())}
        return DeliveryService(self._delivery_store, senders, user_record,
                               group_members=self.agent_groups.members,
                               send_rates={Channel.EMAIL: lambda: ses_send_rate(aws.client("ses")),
                                           Channel.SMS: config.sms_send_rate},
                               pace=DynamoSendPace(self._db, self._table),
                               longest={Channel.WEBHOOK: _longest_webhook(**_WEBHOOK_CALLS)}, runs=self._run_store)

    # -- the hourly sweep --------------------------------------------------------------------------
    @functools.cached_property
    def _firing_store(self):
        from automations.adapters.dynamo_sweep import DynamoFiringStore

        return DynamoFiringStore(self._db, self._table, self._ticket_store, self._run_store, self._delivery_store)

    @functools.cached_property
    def sweep_queue(self):
        from automations.adapters.sqs import SqsSweepQueue

        return SqsSweepQueue(aws.client("sqs"), config.sweep_queue_url())

    @functools.cached_property
    def _fan_out_queue(self):
        from automations.adapters.sqs import SqsSweepQueue

        return SqsSweepQueue(aws.client("sqs"), config.sweep_fan_out_queue_url())

    @functools.cached_property
    def hourly_duties(self):
        from automations.service.hourly import HourlyDuties

        return HourlyDuties(sweeps=lambda: self.sweep_coordinator, deliveries=lambda: self.deliveries,
                            run_executor=lambda: self.run_executor, migrations=lambda: self.migrations)

    @functools.cached_property
    def sweep_coordinator(self) -> SweepCoordinator:
        from automations.service.sweep import SweepCoordinator

        # The hourly check is built only when hourly checks are queued: starting a sweep never needs it.
        return SweepCoordinator(self.accounts.account_page, self.sweep_queue, self._fan_out_queue, self._firing_store,
                                hourly_check_later=lambda accounts: self.hourly_check.hourly_check_later(accounts))

    @functools.cached_property
    def sweep_worker(self) -> SweepWorker:
        from automations.service.sweep import SweepWorker

        return SweepWorker(accounts=self.accounts, automations=self.automations, tickets=self._ticket_store,
                           firings=self._firing_store, notifier=self.deliveries, queue=self.sweep_queue)

    def sweep_summary(self, sweep_id: str) -> dict[str, int]:
        return self._firing_store.summary(sweep_id)


@_once_per_process
def services() -> Services:
    return Services()


# How webhooks are called: each attempt bounded by one deadline of ``timeout`` seconds (the
# transport's), ``attempts`` of them, ``backoff`` doubling between them.
_WEBHOOK_CALLS = {"timeout": 5.0, "attempts": 3, "backoff": 0.5}


def _longest_webhook(*, timeout: float, attempts: int, backoff: float) -> float:
    """The longest one webhook send takes: every attempt to its deadline, and the waits between."""
    return attempts * timeout + sum(backoff * 2 ** n for n in range(attempts - 1))


def hand_back(queue_url: str) -> Callable[[list[tuple[str, str]], int], bool]:
    """What a batch did not do (body, receipt handle), on ``queue_url`` again as new messages
    (adapters.sqs.send_again)."""
    from automations.adapters.sqs import send_again

    return functools.partial(send_again, aws.client("sqs"), queue_url)


def reset() -> None:
    """Forget clients and wiring (after the environment's endpoint or table changed). Clients
    first, and builds wait: whatever is wired after this returns holds only new clients."""
    from automations.adapters import migration_state

    with _wiring:
        aws.reset_clients()
        migration_state.forget()
        for forget in _forgetting:
            forget()
