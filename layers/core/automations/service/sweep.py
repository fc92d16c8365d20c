"""The hourly sweep (Zendesk's automations): every active sweep automation over every
non-closed ticket of every account, in position order, exactly once per cycle.

A cycle is named by its hour and carries one reference instant, so evaluating a ticket twice in
a cycle (a retried or duplicated worker message) gives the same answer. A ticket's firings in a
cycle are committed in one transaction with the ticket, its audit, one run per firing (a
deterministic id per automation, ticket and cycle), the per-cycle caps and the deliveries to
send; the ticket is marked with the cycle, so a retry skips it, and a concurrent duplicate loses
the transaction. Deliveries are sent after the commit from that outbox."""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations import clock, telemetry
from automations.domain.account import Account
from automations.domain.audit import Audit, Via
from automations.domain.business_hours import BusinessHours
from automations.domain.evaluator import CompiledRules
from automations.domain.messages import Continued, in_pages
from automations.domain.model import SubjectKind, Trigger
from automations.domain.run import Run, RunStatus, run_id
from automations.domain.sweep import SWEEP, FanOut, SweepStats, SweepTask
from automations.domain.ticket import MAX_TICKET_TAGS, SWEEP_SHARDS, Ticket, tag_changes
from automations.errors import THROTTLED_TASK_WAIT_S, NotFound, is_throttle, is_transient, reason_of
from automations.store_refusals import MAX_TRANSACTION_ITEMS, AlreadyFired, CapReached, StaleWrite, UnreadableTicket

if TYPE_CHECKING:
    from automations.ports import FiringStore, Notifier, SweepQueue

_log = logging.getLogger(__name__)

PAGE_SIZE = 200
ACCOUNTS_PER_PAGE = 100  # one fan-out page: 800 tasks, 80 SendMessageBatch calls
MAX_TICKETS_PER_AUTOMATION = 1000  # Zendesk: an automation fires on at most 1,000 tickets an hour
_COMMIT_ATTEMPTS = 5


@dataclass
class _Batch:
    """What one ticket's commit holds."""

    ticket: Ticket
    audits: list[Audit] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    deliveries: list = field(default_factory=list)


def cycle_of(now: datetime) -> str:
    """The cycle a sweep started at ``now`` belongs to: its UTC hour."""
    return clock.ensure_utc(now).strftime("%Y-%m-%dT%H")


class TooManyTags(Exception):
    """A firing would leave the ticket more tags than it holds (its run, failed, says so)."""

    def __init__(self, automation_id: int, run: Run) -> None:
        super().__init__(automation_id)
        self.automation_id, self.run = automation_id, run


class SweepCoordinator:
    """Each hour: every account's sweep tasks sent, and its hourly check queued. Either is a chain
    of fan-out messages, each paging over the accounts until time runs short and then handing the
    rest on, so any number of accounts fits; a crash between pages loses nothing (the message
    comes back, from its own ``after``) and only resends what the cycle marks make harmless."""

    def __init__(self, account_page: Callable[[int, str | None], tuple[list[str], str | None]], tasks: SweepQueue,
                 fan_outs: SweepQueue, firings: FiringStore, hourly_check_later: Callable[[list[str]], None]) -> None:
        self._account_page = account_page
        self._tasks = tasks
        self._fan_outs = fan_outs
        self._firings = firings
        self._hourly_check_later = hourly_check_later

    def start(self, purpose: str, invocation: str, now: datetime | None = None) -> FanOut:
        """Start one pass over every account (durable once this returns): its first step, queued.
        ``invocation`` names the call starting it (Lambda keeps its request id across retries): a
        retry finds its pass started and starts no second one."""
        now = clock.ensure_utc(now or clock.now())
        name = hashlib.sha256(f"{invocation}:{purpose}".encode()).hexdigest()[:16]
        step = FanOut(purpose=purpose, sweep_id=f"sweep_{name}", cycle=cycle_of(now), now=now.isoformat())
        if self._firings.was_started(step.sweep_id):
            return step
        self._fan_outs.send([step])
        self._firings.mark_started(step.sweep_id, now)  # after the send: a crash between resends, never loses
        if purpose == SWEEP:
            telemetry.count("SweepsStarted", sweep_id=step.sweep_id)
        return step

    def fan_out(self, step: FanOut, has_time: Callable[[], bool]) -> Continued[list[SweepTask]]:
        """Page over the accounts after ``step.after`` (at least one page), handing the rest on
        when time runs short. Returns the sweep tasks sent, and the step handed on."""
        with telemetry.log_keys(sweep_id=step.sweep_id):
            return in_pages(step, self._fan_out_page, has_time=has_time, hand_on=self._hand_on)

    def _fan_out_page(self, step: FanOut) -> tuple[list[SweepTask], FanOut | None]:
        account_ids, after = self._account_page(ACCOUNTS_PER_PAGE, step.after)
        if step.purpose == SWEEP:
            sent = self._sweep(step, account_ids)
        else:
            self._hourly_check_later(account_ids)
            sent = []
        return sent, replace(step, after=after) if after else None

    def _hand_on(self, step: FanOut) -> None:
        self._fan_outs.send([step])
        telemetry.count("SweepFanOutsContinued", sweep_id=step.sweep_id, purpose=step.purpose)

    def _sweep(self, step: FanOut, account_ids: list[str]) -> list[SweepTask]:
        tasks = [SweepTask(sweep_id=step.sweep_id, cycle=step.cycle, now=step.now, account_id=account_id, shard=shard)
                 for account_id in account_ids for shard in range(SWEEP_SHARDS)]
        # Counted before they are sent: a crash between the two reports a failure, never a success.
        self._firings.add_to_summary(step.sweep_id, SweepStats(shards_started=len(tasks)),
                                     datetime.fromisoformat(step.now), part=step.after or "")
        self._tasks.send(tasks)
        return tasks


@dataclass
class SweepWorker:
    accounts: Any  # AccountService
    automations: Any  # AutomationService
    tickets: Any  # TicketStore: sweepable_page, sweep_position, get
    firings: FiringStore
    notifier: Notifier
    queue: SweepQueue  # the workers' own: where a task's rest goes on

    def process(self, task: SweepTask, has_time: Callable[[], bool]) -> Continued[SweepStats]:
        """Sweep the task's tickets until done or out of time, the rest then handed on (its task
        from where it stopped); a throttle hands the rest on too, THROTTLED_TASK_WAIT_S later, as a
        new message: a redelivery would wait out the queue's visibility timeout (30 minutes) and
        count toward its receives. Every log line meanwhile carries the sweep's and the account's ids."""
        with telemetry.log_keys(sweep_id=task.sweep_id, account_id=task.account_id):
            stats, rest, wait = self._process(task, has_time)
        if rest is not None:
            self.queue.send([rest], delay_s=wait)
        return Continued(stats, rest)

    def _process(self, task: SweepTask, has_time: Callable[[], bool]
                 ) -> tuple[SweepStats, SweepTask | None, int]:
        """The task's counts (added to its cycle's summary), its rest (None: the shard is done)
        and how long the rest waits."""
        stats, started = SweepStats(), time.monotonic()
        rest, wait = self._sweep(task, has_time, stats)
        return self._done(task, stats, started, continued=rest is not None), rest, wait

    def _sweep(self, task: SweepTask, has_time: Callable[[], bool], stats: SweepStats) -> tuple[SweepTask | None, int]:
        page_start = task.start
        try:
            try:
                account = self.accounts.get_account(task.account_id)
            except NotFound:
                return None, 0  # the account is gone: nothing to sweep
            rules = self._rules(account, task.cycle)
            if not rules.automations:
                return None, 0
            now = datetime.fromisoformat(task.now)
            start = task.start
            while True:
                page_start = start
                tickets, start = self.tickets.sweepable_page(task.account_id, task.shard, PAGE_SIZE, start)
                for index, ticket in enumerate(tickets):
                    # Per ticket, after this call's first: a page whose firings send inline can take long.
                    if stats.tickets_evaluated and not has_time():
                        after = self.tickets.sweep_position(tickets[index - 1]) if index else page_start
                        return replace(task, start=after), 0
                    stats.tickets_evaluated += 1
                    if isinstance(ticket, UnreadableTicket):
                        stats.tickets_failed += 1
                        _log.error("sweep could not read a ticket: account_id=%s ticket_id=%s cycle=%s: %s",
                                   ticket.account_id, ticket.id, task.cycle, ticket.reason)
                    elif ticket.swept_cycle != task.cycle:
                        self._bulkhead(account, rules, ticket, now, task.cycle, stats)
                if start is None:
                    return None, 0
                if not has_time():
                    return replace(task, start=start), 0
        except Exception as error:
            if not is_throttle(error):
                raise
            # from the page's start: its tickets swept already are skipped (swept_cycle)
            _log.info("sweep task throttled, goes on in %d s: %s", THROTTLED_TASK_WAIT_S, reason_of(error))
            return replace(task, start=page_start), THROTTLED_TASK_WAIT_S

    def _done(self, task: SweepTask, stats: SweepStats, started: float, *, continued: bool) -> SweepStats:
        stats.shards_done += not continued
        self.firings.add_to_summary(task.sweep_id, stats, datetime.fromisoformat(task.now),
                                    part=f"{task.account_id}#{task.shard}")
        ids = {"sweep_id": task.sweep_id, "account_id": task.account_id, "shard": task.shard}
        telemetry.measure("SweepDuration", telemetry.elapsed_ms(started), "Milliseconds", **ids)
        telemetry.count("SweepTicketsEvaluated", stats.tickets_evaluated, **ids)
        telemetry.count("SweepAutomationsFired", stats.automations_fired, **ids)
        sweep = ("trigger", Trigger.SWEEP.value)
        telemetry.count("RunsCreated", stats.automations_fired + stats.firings_failed, dimension=sweep, **ids)
        telemetry.count("RunsSucceeded", stats.automations_fired, dimension=sweep, **ids)
        telemetry.count("RunsFailed", stats.firings_failed, dimension=sweep, **ids)
        if continued:
            telemetry.count("SweepTasksContinued", **ids)
        return stats

    def _bulkhead(self, account: Account, rules: CompiledRules, ticket: Ticket, now: datetime, cycle: str,
                  stats: SweepStats) -> None:
        """Sweep one ticket; one that cannot be handled fails alone (logged with its ids and
        counted), and its shard goes on. Only a transient failure stops the task, to be retried."""
        try:
            self._sweep_ticket(account, rules, ticket, now, cycle, stats)
        except Exception as error:  # noqa: BLE001 - the bulkhead: whatever it is, it is this ticket's alone
            if is_transient(error):
                raise
            stats.tickets_failed += 1
            _log.exception("sweep could not handle a ticket: account_id=%s ticket_id=%s cycle=%s",
                           account.id, ticket.id, cycle)

    def _rules(self, account: Account, cycle: str) -> CompiledRules:
        """The account's active sweep automations, read by each task (one Query): an automation
        edited or deactivated while the cycle runs holds from the shard's next task on, as it
        would for a cold worker."""
        active = self.automations.list(account.id, active=True, kinds=frozenset({Trigger.SWEEP}))
        rules = CompiledRules(active, BusinessHours(account.timezone, **account.business_hours))
        for automation_id, reason in rules.unusable.items():
            _log.error("sweep automation left out: account_id=%s automation_id=%s cycle=%s: %s",
                       account.id, automation_id, cycle, reason)
        return rules

    def _sweep_ticket(self, account: Account, rules: CompiledRules, ticket: Ticket, now: datetime, cycle: str,
                      stats: SweepStats) -> None:
        skipped: set[int] = set()
        titles = {a.id: a.title for a in rules.automations}
        for _ in range(_COMMIT_ATTEMPTS):
            result = rules.run_cycle(ticket, now, frozenset(skipped))
            if not result.firings:
                return
            try:
                batch = self._batch(account, ticket, result.firings, titles, now, cycle)
            except TooManyTags as refused:  # recorded failed; the others are evaluated again without it
                self.firings.record_failed([refused.run])
                stats.firings_failed += 1
                skipped.add(refused.automation_id)
                continue
            try:
                self.firings.commit(ticket, batch.ticket, batch.audits, batch.runs, batch.deliveries, cycle,
                                    MAX_TICKETS_PER_AUTOMATION)
            except CapReached as e:
                skipped |= e.automation_ids
                continue
            except (StaleWrite, AlreadyFired):
                ticket = self.tickets.get(account.id, ticket.id)
                if ticket is None or ticket.swept_cycle == cycle:
                    return
                continue
            except Exception as error:  # noqa: BLE001 - a commit the same firings can never make
                if is_transient(error):
                    raise
                reason = f"the firing could not be recorded: {reason_of(error)}"
                self.firings.record_failed([replace(_failed_run(run, reason), changes={}, deliveries=())
                                            for run in batch.runs])
                stats.firings_failed += len(batch.runs)
                raise
            failed = sum(run.status is RunStatus.FAILED for run in batch.runs)
            stats.automations_fired += len(batch.runs) - failed
            stats.firings_failed += failed
            stats.tickets_updated += int(any(run.changes for run in batch.runs))
            stats.notifications_sent += self.notifier.dispatch(batch.deliveries)
            return

    def _batch(self, account: Account, ticket: Ticket, firings, titles: dict[int, str], now: datetime,
               cycle: str) -> _Batch:
        """The firings that fit in one transaction, each with its audit, run and deliveries, and
        the ticket as they leave it. Firings beyond DynamoDB's 100 items wait for the next hour
        (they still match then); a firing whose notifications alone cannot fit is recorded as a
        failed run instead of blocking the ticket for ever. The changes are dated when written
        (``now``, the cycle's reference instant, can be minutes older than the ticket's last
        change, and the incremental export reads tickets by that date)."""
        batch, current, used = _Batch(ticket), ticket, 1  # the ticket's own item
        written = max(clock.now(), ticket.updated_at) if ticket.updated_at else clock.now()
        for firing in firings:
            after = replace(current.with_changes(firing.changes, written), version=current.version,
                            automation_updates=current.automation_updates + 1)
            run = self._run(account, ticket, firing, now, cycle)
            try:
                prepared = self.notifier.prepare(account, after, run, firing.notifications)
            except Exception as error:  # noqa: BLE001 - a firing that cannot be rendered or addressed fails alone
                if is_transient(error):
                    raise
                _log.warning("sweep firing failed: account_id=%s automation_id=%s ticket_id=%s run_id=%s: %s",
                             account.id, firing.automation_id, ticket.id, run.id, reason_of(error))
                run, prepared = _failed_run(run, f"its notifications could not be prepared: {reason_of(error)}"), []
            cost = 3 + len(prepared)  # audit, run, cap counter, deliveries
            if len(after.tags) > MAX_TICKET_TAGS:  # more than a ticket holds: the firing fails, changing nothing
                _log.warning("sweep firing failed: account_id=%s automation_id=%s ticket_id=%s run_id=%s: %s tags",
                             account.id, firing.automation_id, ticket.id, run.id, len(after.tags))
                raise TooManyTags(firing.automation_id, replace(_failed_run(
                    run, f"it would leave the ticket {len(after.tags)} tags; a ticket holds at most "
                         f"{MAX_TICKET_TAGS}"), changes={}, deliveries=()))
            moved = tag_changes(ticket.tags, after.tags)  # the batch's tag counters ride in its transaction
            if used + cost + moved > MAX_TRANSACTION_ITEMS and batch.runs:
                break
            if used + cost + moved > MAX_TRANSACTION_ITEMS:
                run = _failed_run(run, f"{len(prepared)} notifications are more than one firing can record "
                                      f"({MAX_TRANSACTION_ITEMS - 4} at most)")
                prepared = []
            used += 3 + len(prepared)
            batch.audits.append(Audit.of(current, after, author_id=None,
                                         via=Via.rule(firing.automation_id, titles[firing.automation_id])))
            batch.runs.append(replace(run, deliveries=tuple(d.id for d in prepared)))
            batch.deliveries += prepared
            current = replace(after, version=current.version + 1)
        batch.ticket = replace(current, version=ticket.version, swept_cycle=cycle)
        return batch

    @staticmethod
    def _run(account: Account, ticket: Ticket, firing, now: datetime, cycle: str) -> Run:
        occurrence = f"sweep:{cycle}"
        created = clock.now()
        return Run(account_id=account.id,
                   id=run_id(account.id, firing.automation_id, SubjectKind.TICKET, str(ticket.id), occurrence),
                   automation_id=firing.automation_id, subject_kind=SubjectKind.TICKET, subject_id=str(ticket.id),
                   occurrence=occurrence, status=RunStatus.SUCCEEDED, created_at=created, updated_at=created,
                   due_at=now, trigger=Trigger.SWEEP.value, changes={k: _jsonable(v) for k, v in firing.changes.items()},
                   history=({"at": created.isoformat(), "status": "succeeded", "cycle": cycle},))


def _failed_run(run: Run, reason: str) -> Run:
    """A sweep firing's run recorded as failed, with why (its changes stay as they were made)."""
    entry = {**run.history[-1], "status": "failed", "error": reason} if run.history else {"error": reason}
    return replace(run, status=RunStatus.FAILED, error=reason, history=(*run.history[:-1], entry))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
