"""Turning an automation's notifications into deliveries, and sending them exactly once.

``prepare`` renders and addresses each notification into Delivery records with deterministic ids
(run id, action index, recipient index); the caller stores them in the same transaction as the
run. ``dispatch`` then claims each one (pending -> sending, one winner), sends it, and records
the provider's id. A transient failure returns it to pending for the relay (``relay``, run by
the hourly coordinator) until MAX_ATTEMPTS; a sender that crashes after sending leaves it in
"sending", which is never sent again: at most once beyond that window, never twice."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from automations import clock
from automations.domain.delivery import (
    Channel, Delivery, DeliveryStatus, PermanentDeliveryError, TransientDeliveryError, delivery_id,
)
from automations.domain.model import Account
from automations.domain.run import Run
from automations.domain.ticket import Ticket
from automations.inputs import MAX_ID, parse_whole
from automations.service.rendering import render, ticket_context

MAX_ATTEMPTS = 5


class Sender(Protocol):
    def send(self, delivery: Delivery) -> str: ...


# A user record as notifications need it: {"id", "name", "email"} or None.
UserLookup = Callable[[str, int], dict[str, Any] | None]
GroupLookup = Callable[[str, int], list[dict[str, Any]]]


class DeliveryService:
    def __init__(self, store, senders: dict[Channel, Sender], users: UserLookup, group_members: GroupLookup) -> None:
        self._store = store
        self._senders = senders
        self._users = users
        self._group_members = group_members

    # -- preparing -----------------------------------------------------------------------------
    def prepare(self, account: Account, ticket: Ticket, run: Run, notifications: tuple) -> list[Delivery]:
        if not notifications:
            return []
        people = {"requester": self._user(account.id, ticket.requester_id),
                  "assignee": self._user(account.id, ticket.assignee_id)}
        context = ticket_context(ticket, people)
        now = clock.now()
        prepared = []
        for index, n in enumerate(notifications):
            subject, body = render(n.subject, context), render(n.body, context)
            if n.kind in ("webhook", "target"):
                targets = [(Channel.WEBHOOK, n.target)]
            else:
                targets = [(Channel.EMAIL, email) for email in self._emails(account.id, ticket, n, people)]
            for part, (channel, recipient) in enumerate(targets):
                prepared.append(Delivery(account_id=account.id, id=delivery_id(run.id, index, part), run_id=run.id,
                                         channel=channel, recipient=recipient, subject=subject, body=body,
                                         created_at=now))
        return prepared

    def _user(self, account_id: str, user_id: int | None) -> dict[str, Any] | None:
        return self._users(account_id, user_id) if user_id is not None else None

    def _emails(self, account_id: str, ticket: Ticket, n, people: dict) -> list[str]:
        target_id = parse_whole(n.target, MAX_ID)  # rules saved before ids were bounded may hold anything
        if n.kind == "group":
            members = self._group_members(account_id, target_id) if target_id is not None else []
        elif n.target in ("requester_id", "requester_and_ccs"):
            members = [people["requester"]]
        elif n.target == "assignee_id":
            members = [people["assignee"]]
        elif target_id is not None:
            members = [self._users(account_id, target_id)]
        else:  # current_user: an automation has no current user
            members = []
        return list(dict.fromkeys(m["email"] for m in members if m and m.get("email")))

    # -- sending -------------------------------------------------------------------------------
    def dispatch(self, deliveries: list[Delivery]) -> int:
        """Send what is pending; returns how many were sent now."""
        return sum(sent_now for _, sent_now in map(self._attempt, deliveries))

    def send(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Send what is pending; each delivery as it stands afterwards (one that another sender
        had is read back as that sender left it)."""
        return [after or self._store.get(d.account_id, d.id) or d
                for d, (after, _) in zip(deliveries, map(self._attempt, deliveries))]

    def _attempt(self, pending: Delivery) -> tuple[Delivery | None, bool]:
        """One claimed attempt: the delivery as it then stands (None when someone else had it:
        sent, being sent or given up), and whether this call sent it."""
        claimed = self._store.claim(pending)
        if claimed is None:
            return None, False
        try:
            provider_id = self._senders[claimed.channel].send(claimed)
        except PermanentDeliveryError as e:
            return self._store.finish(claimed, DeliveryStatus.FAILED, error=str(e)), False
        except TransientDeliveryError as e:
            if claimed.attempts >= MAX_ATTEMPTS:
                return self._store.finish(claimed, DeliveryStatus.FAILED, error=f"gave up: {e}"), False
            self._store.release(claimed, str(e))
            return replace(claimed, status=DeliveryStatus.PENDING, error=str(e)), False
        return self._store.finish(claimed, DeliveryStatus.SENT, provider_id=provider_id), True

    def relay(self, limit: int = 100) -> int:
        """Send deliveries a crash or a transient failure left pending."""
        return self.dispatch([d for d in self._store.unfinished(limit) if d.status is DeliveryStatus.PENDING])

