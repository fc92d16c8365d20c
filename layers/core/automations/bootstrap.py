"""Composition root: wires services to their adapters once per process (warm Lambda reuse)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from automations import config
from automations.adapters import aws
from automations.adapters.dynamo import DynamoAccountStore, DynamoAutomationStore
from automations.service.accounts import AccountService
from automations.service.automations import AutomationService


@dataclass(frozen=True)
class Services:
    accounts: AccountService
    automations: AutomationService


@functools.cache
def services() -> Services:
    db, table = aws.client("dynamodb"), config.table_name()
    automations = AutomationService(DynamoAutomationStore(db, table))
    accounts = AccountService(DynamoAccountStore(db, table),
                              on_account_created=lambda account: automations.install_defaults(account.id))
    return Services(accounts=accounts, automations=automations)


def reset() -> None:
    """Forget wiring and clients (after the environment's endpoint or table changed)."""
    services.cache_clear()
    aws.reset_clients()
