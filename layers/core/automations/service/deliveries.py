"""Turning an automation's notifications into deliveries, and sending them exactly once.

``prepare`` renders and addresses each notification into Delivery records with deterministic ids
(run id, action index, recipient index); the caller stores them in the same transaction as the
run. ``dispatch`` then claims each one (pending -> sending, one winner), sends it, and records
the provider's id. A transient failure returns it to pending for the relay (``relay``, run by
the hourly coordinator) until MAX_ATTEMPTS; a sender that crashes after sending leaves it in
"sending", which is never sent again: at most once beyond that window, never twice (the relay
records it unconfirmed; a run attempt's first delivery, stored claimed by ``deliver`` and never in
the outbox, is recorded so by its run: ``settle``, which also keeps a run that did not succeed
from sending what it left pending). A run's
announcement is stored just before the run's outcome: the relay sends it only once the run is
recorded as it announces, and never for a run that ended otherwise.

Throttles delay sends, never fail them. A channel with a rate (SES's MaxSendRate, the SMS quota)
is paced for the whole stack: each send books a slot of the shared pace (ports.SendPace) and
waits for it, and when none is free within PACE_AHEAD_S the send is not tried: Busy, the caller
comes back later. A provider that throttles anyway (another stack on the same account) gets the
delivery back as pending with its attempt given back, and Busy again.

Time is bounded too: ``send`` is told how much of its invocation is left (``has_time``), and
starts a delivery only if the channel's longest send (``longest``: a webhook's attempts, each
bounded by its deadline, and the backoff between them) fits; else OutOfTime, the delivery left
pending for the caller to go on with in another invocation."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from automations import clock, telemetry
from automations.domain.account import Account
from automations.domain.delivery import (
    UNCONFIRMED_REASON, Channel, Delivery, DeliveryStatus, PermanentDeliveryError, Throttled, TransientDeliveryError,
    announcement_id, delivery_id,
)
from automations.domain.event_rules import MAX_ACTIONS
from automations.inputs import MAX_ID, parse_whole
from automations.domain.run import Run, RunStatus
from automations.domain.ticket import Ticket
from automations.errors import Busy, OutOfTime, is_throttle, is_transient, reason_of
from automations.service.rendering import render, ticket_context
from automations.store_refusals import UnreadableRecord

if TYPE_CHECKING:
    from automations.ports import RunOutcomes, SendPace, Sender

_log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SEND_TIMEOUT = timedelta(minutes=15)  # Lambda's longest run: no sender is still at it after this
RELAY_SECONDS = 30.0  # of the hourly coordinator's 60 s: how long the relay may drain the outbox
RELAY_PAGE = 100
PACE_AHEAD_S = 2  # how far ahead a send books its slot and waits for it; past that, it comes back later


class Unaddressable(ValueError):
    """A notification names a recipient that no user or group can be (a stored rule the
    checks of today would refuse): its firing fails, alone and visibly."""


# A user record as notifications need it: {"id", "name", "email"} or None.
UserLookup = Callable[[str, int], dict[str, Any] | None]
GroupLookup = Callable[[str, int], list[dict[str, Any]]]


class DeliveryService:
    def __init__(self, store, senders: dict[Channel, Sender], users: UserLookup, group_members: GroupLookup,
                 send_rates: Mapping[Channel, Callable[[], float]] | None = None, pace: SendPace | None = None,
                 longest: Mapping[Channel, float] | None = None, monotonic: Callable[[], float] = time.monotonic,
                 pause: Callable[[float], None] = time.sleep, runs: RunOutcomes | None = None) -> None:
        self._store = store
        self._senders = senders
        self._users = users
        self._group_members = group_members
        self._send_rates = send_rates or {}  # sends per second each provider allows (SES's MaxSendRate)
        self._rates: dict[Channel, float] = {}  # each read once per process (GetSendQuota is itself throttled)
        self._pace = pace
        self._longest = longest or {}  # seconds one send of the channel may take at most, retries included
        self._monotonic = monotonic
        self._pause = pause
        self._runs = runs  # what the relay checks an announcement against

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
        if n.target in ("requester_id", "requester_and_ccs") and n.kind == "user":
            members = [people["requester"]]
        elif n.target == "assignee_id" and n.kind == "user":
            members = [people["assignee"]]
        elif n.target == "current_user" and n.kind == "user":  # an automation has no current user
            members = []
        elif (number := parse_whole(n.target, MAX_ID)) is None:
            raise Unaddressable(f"notification_{n.kind} recipient {n.target[:40]!r}"
                                f"{'...' if len(n.target) > 40 else ''} is not a {n.kind} id")
        elif n.kind == "group":
            members = self._group_members(account_id, number)
        else:
            members = [self._users(account_id, number)]
        return list(dict.fromkeys(m["email"] for m in members if m and m.get("email")))

    # -- sending -------------------------------------------------------------------------------
    def dispatch(self, deliveries: list[Delivery]) -> int:
        """Send what is pending; returns how many were sent now. A throttle stops it: the rest
        wait, pending in the outbox, for the relay."""
        sent = 0
        for delivery in deliveries:
            try:
                sent += self._attempt(delivery)[1]
            except Busy:
                break
        return sent

    def deliver(self, composed: list[Delivery], has_time: Callable[[float], bool] | None = None) -> list[Delivery]:
        """Store a run attempt's deliveries (once: their ids derive from the run, so a retried run
        finds what it stored before) and send them; each as it stands afterwards (one that another
        sender had is read back as that sender left it). All are stored before the first is sent,
        the first as claimed: one write where storing it pending and then claiming it took two.
        One still "sending" from an earlier attempt (attempts never overlap: the run's lease) had a
        sender that stopped mid-send: resending could send twice, so it is recorded unconfirmed.
        Raises Busy when a throttle stops it, and OutOfTime before a delivery whose longest send
        ``has_time(seconds)`` says would not fit: what is not sent waits, stored, or is stored by
        the run's next attempt. One composed as skipped (no address to send to) is stored so,
        never sent; the first to send is the first one pending. When an earlier attempt stored the
        others, it is stored pending as they were: it may have gone already, and a slot of its
        pace (or time for its send) it would not use must not hold the run back."""
        lead = next((d for d in composed if d.status is DeliveryStatus.PENDING), None)
        stored = {d.id: self._store.put_new(d) for d in composed if d is not lead}
        if lead is not None and any(stored[d.id] is not d for d in composed if d is not lead):
            stored[lead.id], lead = self._store.put_new(lead), None
        if lead is not None:
            stored[lead.id] = self._store_claimed(lead, has_time)
        return [stored[d.id] if d is lead else self._go_on_with(stored[d.id], has_time) for d in composed]

    def settle(self, run: Run, ended: RunStatus, reason: str | None) -> None:
        """What the attempts of ``run``, which ends ``ended`` (for ``reason``), left unsettled, read
        at once: each is the first part of one of the run's actions.

        One an earlier attempt left "sending" is recorded unconfirmed, never sent again: an
        attempt's first delivery is stored claimed, out of the outbox the relay reads, so when its
        sender stopped mid-send and the run then ends without composing it again (skipped, its
        actions changed), the run settles it. Attempts never overlap (the run's lease), so none of
        them is still being sent; those of this attempt (``run.deliveries``) it settled itself.

        One left pending (given back by a throttle or a transient failure, so in the outbox) is,
        when the run did not succeed, never sent: a skipped or failed run sends nothing more. It
        ends as its run did, unless the relay claimed it meanwhile."""
        unsent = ended is not RunStatus.SUCCEEDED
        for d in self._first_parts(run, besides=() if unsent else run.deliveries):
            if d.status is DeliveryStatus.SENDING and d.id not in run.deliveries:
                self._finished(d, DeliveryStatus.UNCONFIRMED, error=UNCONFIRMED_REASON)
            elif d.status is DeliveryStatus.PENDING and unsent:
                self._finished(d, DeliveryStatus.FAILED if ended is RunStatus.FAILED else DeliveryStatus.SKIPPED,
                               error=f"not sent: the run ended {ended.value}" + (f" ({reason})" if reason else ""),
                               unless_claimed=True)

    def began(self, run: Run) -> bool:
        """Whether an attempt of ``run`` stored one of its deliveries (and so began inside its time)."""
        return bool(self._first_parts(run))

    def _first_parts(self, run: Run, besides: tuple[str, ...] = ()) -> list[Delivery]:
        """The stored first part of each of the run's actions but ``besides`` (a delivery's id
        derives from its run and its action's place)."""
        candidates = [delivery_id(run.id, index) for index in range(MAX_ACTIONS)]
        return self._store.get_many(run.account_id, [i for i in candidates if i not in besides])

    def _store_claimed(self, new: Delivery, has_time: Callable[[float], bool] | None) -> Delivery:
        """``new`` stored as claimed and sent. Its pace slot is booked first, so nothing waits
        between its store and its send (a crash there leaves it "sending", as one between a claim
        and a send does). One of its id stored before is taken as stored."""
        self._check_time(new, has_time)
        self._wait_for_slot(new.channel)
        claimed = replace(new, status=DeliveryStatus.SENDING, claimed_at=clock.now(), attempts=new.attempts + 1)
        stored = self._store.put_new(claimed)
        if stored is not claimed:
            return self._go_on_with(stored, has_time, booked=True)
        return self._send_claimed(claimed)[0]

    def _go_on_with(self, stored: Delivery, has_time: Callable[[float], bool] | None, *,
                    booked: bool = False) -> Delivery:
        """A stored delivery of the attempt as it stands after this attempt's part: sent if
        pending (``booked``: with the pace slot already taken), unconfirmed if still sending."""
        if stored.status is DeliveryStatus.SENDING:
            return self._finished(stored, DeliveryStatus.UNCONFIRMED, error=UNCONFIRMED_REASON)
        if stored.status is not DeliveryStatus.PENDING:
            return stored
        self._check_time(stored, has_time)
        after, _ = self._attempt(stored, booked=booked)
        return after or self._store.get(stored.account_id, stored.id) or stored

    def _check_time(self, d: Delivery, has_time: Callable[[float], bool] | None) -> None:
        longest = self._longest.get(d.channel, 0.0)
        if has_time is not None and not has_time(longest):
            raise OutOfTime(f"too little time left for the {d.channel} to {d.recipient} (up to {longest:g} s)")

    def _attempt(self, pending: Delivery, *, booked: bool = False) -> tuple[Delivery | None, bool]:
        """One claimed attempt: the delivery as it then stands (None when someone else had it:
        sent, being sent or given up), and whether this call sent it. Raises Busy, the delivery
        left pending and its attempt not counted, when the pace or the provider holds it back."""
        if not booked:
            self._wait_for_slot(pending.channel)
        claimed = self._store.claim(pending)
        if claimed is None:
            return None, False
        return self._send_claimed(claimed)

    def _send_claimed(self, claimed: Delivery) -> tuple[Delivery, bool]:
        """Send a delivery this call claimed, and record how it went."""
        try:
            provider_id = self._senders[claimed.channel].send(claimed)
        except PermanentDeliveryError as e:
            return self._finished(claimed, DeliveryStatus.FAILED, error=str(e)), False
        except Throttled as e:
            self._store.release(claimed, f"throttled: {e}", attempted=False)
            raise Busy(f"{claimed.channel} throttled: {e}") from None
        except TransientDeliveryError as e:
            return self._later(claimed, str(e)), False
        except Exception as e:  # noqa: BLE001 - a delivery no sender can take fails alone, never its batch
            if is_throttle(e):
                self._store.release(claimed, f"throttled: {reason_of(e)}", attempted=False)
                raise Busy(f"{claimed.channel} throttled: {reason_of(e)}") from None
            if is_transient(e):
                return self._later(claimed, reason_of(e)), False
            _log.exception("delivery failed: account_id=%s run_id=%s delivery_id=%s", claimed.account_id,
                           claimed.run_id, claimed.id)
            return self._finished(claimed, DeliveryStatus.FAILED, error=f"could not be sent: {reason_of(e)}"), False
        return self._finished(claimed, DeliveryStatus.SENT, provider_id=provider_id), True

    def _wait_for_slot(self, channel: Channel) -> None:
        """Book a slot of the stack's pace for ``channel`` and wait for it (a channel without a
        rate goes at once); Busy when none is free within PACE_AHEAD_S."""
        if self._pace is None or channel not in self._send_rates:
            return
        if channel not in self._rates:
            self._rates[channel] = self._send_rates[channel]()
        now = clock.now()
        slot = self._pace.take(channel.value, self._rates[channel], now, PACE_AHEAD_S)
        if slot is None:
            raise Busy(f"{channel} sends are at their rate ({self._rates[channel]:g} a second)",
                       retry_after=PACE_AHEAD_S)
        if slot > now:
            clock.sleep((slot - now).total_seconds())

    def _later(self, claimed: Delivery, error: str) -> Delivery:
        """A transient failure: back to pending for the relay, until MAX_ATTEMPTS."""
        if claimed.attempts >= MAX_ATTEMPTS:
            return self._finished(claimed, DeliveryStatus.FAILED, error=f"gave up: {error}")
        self._store.release(claimed, error)
        return replace(claimed, status=DeliveryStatus.PENDING, error=error)

    def _finished(self, claimed: Delivery, status: DeliveryStatus, **outcome: Any) -> Delivery | None:
        done = self._store.finish(claimed, status, **outcome)
        if done is not None:
            telemetry.count(f"Deliveries{status.value.capitalize()}", dimension=("channel", claimed.channel.value),
                            account_id=claimed.account_id, run_id=claimed.run_id, delivery_id=claimed.id)
        return done

    def _outcome_recorded(self, d: Delivery) -> bool:
        """Whether ``d`` may go out: any delivery but a run's announcement, which waits (pending)
        until its run is recorded as succeeded; if the run ended otherwise (taken over after a
        crash, it was skipped), does not exist or cannot be read, it is skipped, never sent."""
        if self._runs is None or d.id != announcement_id(d.run_id):
            return True
        try:
            run = self._runs.get(d.account_id, d.run_id)
            reason = "the run does not exist" if run is None else f"the run ended {run.status.value}"
        except UnreadableRecord as unreadable:
            run, reason = None, str(unreadable)
        if run is not None and not run.finished:
            return False  # it waits for the outcome
        if run is not None and run.status is RunStatus.SUCCEEDED:
            return True
        self._finished(d, DeliveryStatus.SKIPPED, error=f"not announced: {reason}")
        return False

    def relay(self, seconds: float = RELAY_SECONDS) -> int:
        """Send deliveries a crash or a transient failure left pending, oldest first, each
        channel paced at the rate its provider allows, until the outbox is drained or ``seconds``
        are spent. A delivery that fails transiently again (throttling: the provider wants us to
        slow down) ends this relay; it and the rest wait, pending, for the next one. One whose
        sender stopped mid-send (still "sending" past any sender's lifetime) is recorded as
        unconfirmed, never sent again, and leaves the outbox, so such deliveries cannot pile up
        ahead of the rest. Returns how many were sent."""
        deadline = self._monotonic() + seconds
        intervals = {channel: 1 / rate() for channel, rate in self._send_rates.items()}
        next_send: dict[Channel, float] = {}
        tried: set[str] = set()
        sent, stale = 0, clock.now() - SEND_TIMEOUT
        while True:
            page = []
            for d in self._store.unfinished(RELAY_PAGE + len(tried)):
                if d.status is DeliveryStatus.PENDING and d.id not in tried:
                    page.append(d)
                elif d.status is DeliveryStatus.SENDING and (d.claimed_at is None or d.claimed_at < stale):
                    self._finished(d, DeliveryStatus.UNCONFIRMED, error=UNCONFIRMED_REASON)
            if not page:
                return sent
            for delivery in page:
                tried.add(delivery.id)
                if not self._outcome_recorded(delivery):
                    continue
                wait = next_send.get(delivery.channel, 0.0) - self._monotonic()
                if self._monotonic() + max(wait, 0.0) >= deadline:
                    return sent
                if wait > 0:
                    self._pause(wait)
                try:
                    after, sent_now = self._attempt(delivery)
                except Busy:  # the provider wants us to slow down: the rest wait for the next relay
                    return sent
                sent += sent_now
                next_send[delivery.channel] = self._monotonic() + intervals.get(delivery.channel, 0.0)
                if after is not None and after.status is DeliveryStatus.PENDING:
                    return sent

