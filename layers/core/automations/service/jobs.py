"""Bulk requests as Zendesk does them, for tickets and for users: the request is checked for shape
and size, stored as a job (up to 100 items) and answered at once with its status; a worker (SQS)
then does the items one by one, each change committed with its result, so a job run again skips
what was done.

An item that fails (invalid, missing ticket, a race lost three times) fails alone: its result
says why and the job goes on. Any other error is retried by running the job again; on the last
delivery the item it stopped at is recorded as failed instead, so even a poison item cannot hold
the rest back. A job whose run fails for other reasons on the last delivery is ``failed``. A
throttle is none of these: it hands the job on, to go on a while later as a new delivery, so it
never counts toward the last one."""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain import job as jobs
from automations.domain.job import Job, JobItem
from automations.domain.messages import Continued, TicketJob
from automations.domain.ticket import TicketDraft
from automations.errors import (
    THROTTLED_TASK_WAIT_S, DomainError, FieldError, NotFound, TooManyValues, ValidationFailed, found, is_throttle,
    reason_of,
)

from automations.service.people import UserService
from automations.service.tickets import MAX_TICKET_BYTES, TicketService

if TYPE_CHECKING:
    from automations.ports import JobQueue, JobStore

log = logging.getLogger(__name__)
CREATE_TOGETHER = 100  # a job's ticket creates handed to the ticket service at once (it writes them in groups)
_ERRORS = {"create": "{}CreateFailed", "update": "{}UpdateFailed", "delete": "{}DeleteFailed",
           "purge": "{}DeleteFailed", "create_or_update": "{}CreateOrUpdateFailed"}


# A job's ticket object read by its surface (creating, or not: a change), as the job keeps it: as it came.
TicketReader = Callable[..., TicketDraft]


class BulkJobService:
    def __init__(self, jobs_store: JobStore, tickets: TicketService, users: UserService, queue: JobQueue,
                 read_ticket: TicketReader) -> None:
        self._jobs = jobs_store
        self._tickets = tickets
        self._users = users
        self._queue = queue
        self._read_ticket = read_ticket

    # -- starting --------------------------------------------------------------------------------
    def create_many(self, account_id: str, tickets: Any, author_email: str) -> Job:
        """``tickets``: ticket objects, each checked when its turn comes."""
        items = _bounded_list(tickets, "tickets")
        ids = self._tickets.reserve_ids(account_id, len(items)) if items else range(0)
        return self._start(account_id, "create", author_email,
                           [{"id": ticket_id, "ticket": t} for ticket_id, t in zip(ids, items)])

    def update_many(self, account_id: str, tickets: Any, author_email: str) -> Job:
        """``tickets``: ticket objects, each with its ``id``."""
        items = _bounded_list(tickets, "tickets")
        ids = [t.get("id") if isinstance(t, dict) else None for t in items]
        if not all(map(_is_id, ids)):
            raise ValidationFailed([FieldError("tickets", "Tickets: each ticket needs its numeric id")])
        return self._start(account_id, "update", author_email, [{"id": i, "ticket": t} for i, t in zip(ids, items)])

    def update_each(self, account_id: str, ticket_ids: Sequence[int], changes: Any, author_email: str) -> Job:
        """The same ``changes`` to each of the tickets."""
        return self._start(account_id, "update", author_email, [{"id": i, "ticket": changes} for i in ticket_ids])

    def delete_many(self, account_id: str, ticket_ids: Sequence[int], author_email: str) -> Job:
        return self._start(account_id, "delete", author_email, [{"id": i} for i in ticket_ids])

    def purge_many(self, account_id: str, ticket_ids: Sequence[int], author_email: str, *,
                   must_exist: bool = False) -> Job:
        """Delete deleted tickets for good (Zendesk does it as a job too); ``must_exist``: refuse
        (NotFound) ids that are not among the deleted tickets now, as Zendesk does for one."""
        if must_exist:
            for ticket_id in ticket_ids:
                self._tickets.get_deleted(account_id, ticket_id)
        return self._start(account_id, "purge", author_email, [{"id": i} for i in ticket_ids])

    # -- users ----------------------------------------------------------------------------------
    def create_users(self, account_id: str, users: Any, author_email: str) -> Job:
        """``users``: user objects, each checked when its turn comes (its id reserved now)."""
        items = _bounded_list(users, "users")
        ids = self._users.reserve_ids(account_id, len(items)) if items else range(0)
        return self._start(account_id, "create", author_email,
                           [{"id": user_id, "user": u} for user_id, u in zip(ids, items)], subject="user")

    def create_or_update_users(self, account_id: str, users: Any, author_email: str) -> Job:
        """``users``: user objects, each updating the user with its external_id, else its email, or
        else created (under an id reserved now), checked when its turn comes."""
        items = _bounded_list(users, "users")
        ids = self._users.reserve_ids(account_id, len(items)) if items else range(0)
        return self._start(account_id, "create_or_update", author_email,
                           [{"id": user_id, "user": u} for user_id, u in zip(ids, items)], subject="user")

    def update_users(self, account_id: str, users: Any, author_email: str) -> Job:
        """``users``: user objects, each naming itself by ``id`` or ``external_id``."""
        items = _bounded_list(users, "users")
        if not all(isinstance(u, dict) and (_is_id(u.get("id")) or isinstance(u.get("external_id"), (str, int)))
                   for u in items):
            raise ValidationFailed([FieldError("users", "Users: each user needs its numeric id or its external_id")])
        return self._start(account_id, "update", author_email,
                           [{"id": u["id"] if _is_id(u.get("id")) else None, "external_id": u.get("external_id"),
                             "user": u} for u in items],
                           subject="user")

    def update_each_user(self, account_id: str, targets: Sequence[int | str], changes: Any, author_email: str,
                         *, by_external_id: bool = False) -> Job:
        """The same ``changes`` to each of the users named by id (or by external id)."""
        name = "external_id" if by_external_id else "id"
        return self._start(account_id, "update", author_email, [{name: t, "user": changes} for t in targets],
                           subject="user")

    def delete_users(self, account_id: str, targets: Sequence[int | str], author_email: str, *,
                     by_external_id: bool = False) -> Job:
        name = "external_id" if by_external_id else "id"
        return self._start(account_id, "delete", author_email, [{name: t} for t in targets], subject="user")

    def _start(self, account_id: str, action: str, author_email: str, requests: list[dict[str, Any]], *,
               subject: str = "ticket") -> Job:
        too_large = [str(i) for i, r in enumerate(requests) if len(json.dumps(r, default=str)) > MAX_TICKET_BYTES]
        if too_large:  # it could never be saved, and its job item must fit DynamoDB's 400 KB
            plural = f"{subject}s"
            raise ValidationFailed([FieldError(plural, f"{plural.capitalize()}: too large (a {subject} must be "
                                                       f"smaller than {MAX_TICKET_BYTES // 1024} KB): "
                                                       f"{', '.join(too_large)}")])
        job = Job(account_id=account_id, id=f"V3-{uuid.uuid4().hex}", action=action, total=len(requests),
                  author_email=author_email, created_at=clock.now(), subject=subject)
        self._jobs.create(job, [JobItem(index, request) for index, request in enumerate(requests)])
        self._queue.send(account_id, job.id)
        return job

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account_id: str, job_id: str) -> tuple[Job, list[JobItem]]:
        job = found(self._jobs.get(account_id, job_id) if _is_job_id(job_id) else None, f"job status {job_id}")
        return job, self._jobs.items(account_id, job_id)

    def get_many(self, account_id: str, job_ids: Sequence[str]) -> list[tuple[Job, list[JobItem]]]:
        found = []
        for job_id in dict.fromkeys(job_ids):
            try:
                found.append(self.get(account_id, job_id))
            except NotFound:
                continue
        return found

    # -- working ---------------------------------------------------------------------------------
    def hand_on(self, account_id: str, job_id: str, *, delay_s: int = 0) -> None:
        """Queue the job again: the worker ran out of time (or, ``delay_s`` later, was throttled)."""
        self._queue.send(account_id, job_id, delay_s=delay_s)

    def work(self, account_id: str, job_id: str, *, has_time: Callable[[], bool],
             last_attempt: bool) -> Continued[str | None]:
        """Do the job's items not yet done, and hand it on when time runs out first, or later when
        a throttle stops it. Returns the job's status (None: unknown, or expired)."""
        try:
            return self._work(account_id, job_id, has_time=has_time, last_attempt=last_attempt)
        except Exception as error:
            if not is_throttle(error):
                raise
            # a new delivery, not this one again: a throttle must not bring the job to its last one
            log.info("bulk job %s throttled, goes on in %d s: %s", job_id, THROTTLED_TASK_WAIT_S, reason_of(error))
            self.hand_on(account_id, job_id, delay_s=THROTTLED_TASK_WAIT_S)
            return Continued(jobs.WORKING, TicketJob(account_id, job_id))

    def _work(self, account_id: str, job_id: str, *, has_time: Callable[[], bool],
              last_attempt: bool) -> Continued[str | None]:
        job = self._jobs.get(account_id, job_id)
        if job is None or job.status in (jobs.COMPLETED, jobs.FAILED):
            return Continued(job and job.status)  # unknown (expired) or already finished: a redelivery
        if job.status == jobs.QUEUED:
            self._jobs.set_status(job, jobs.WORKING, None)
        try:
            waiting = [item for item in self._jobs.items(account_id, job_id) if item.result is None]
            if job.subject == "ticket" and job.action == "create" and not last_attempt:
                # on the last delivery one by one, so a poison item fails alone
                waiting = self._create_together(job, waiting, has_time)
            for item in waiting:
                if not has_time():
                    self.hand_on(account_id, job_id)
                    return Continued(jobs.WORKING, TicketJob(account_id, job_id))
                self._do(job, item, last_attempt=last_attempt)
        except Exception as error:
            if not last_attempt or is_throttle(error):
                raise
            log.exception("ticket job %s failed", job_id)
            self._jobs.set_status(job, jobs.FAILED, f"Failed at {clock.iso_z(clock.now())}")
            return Continued(jobs.FAILED)
        self._jobs.set_status(job, jobs.COMPLETED, f"Completed at {clock.iso_z(clock.now())}")
        return Continued(jobs.COMPLETED)

    def _create_together(self, job: Job, items: list[JobItem], has_time: Callable[[], bool]) -> list[JobItem]:
        """Create the items' tickets CREATE_TOGETHER at a time, each result committed with its
        ticket and a refusal recorded alone; the items left when time ran out."""
        for start in range(0, len(items), CREATE_TOGETHER):
            if not has_time():
                return items[start:]
            chunk = items[start:start + CREATE_TOGETHER]
            drafts = [(self._read_ticket(item.request["ticket"], creating=True), item.request["id"],
                       [self._jobs.result_write(job, item.index, jobs.success("create", item.index, item.request["id"]))])
                      for item in chunk]
            outcomes = self._tickets.create_many(job.account_id, drafts, author_email=job.author_email)
            for item, outcome in zip(chunk, outcomes):
                if isinstance(outcome, DomainError):
                    self._refused(job, item, item.request["id"], outcome)
        return []

    def _refused(self, job: Job, item: JobItem, record_id: Any, error: DomainError) -> None:
        self._jobs.record(job, item.index, jobs.failure(job.action, item.index, record_id,
                                                        _ERRORS[job.action].format(job.subject.capitalize()),
                                                        error.message or type(error).__name__))

    def _do(self, job: Job, item: JobItem, *, last_attempt: bool) -> None:
        record_id, action = item.request.get("id"), job.action
        try:
            if job.subject == "user":
                record_id, action = self._do_user(job, item)
            elif self._do_ticket(job, item):
                return  # the result was committed with the change
        except DomainError as e:
            if is_throttle(e):
                raise  # Busy: the item is delayed, not refused (work hands the job on)
            self._refused(job, item, record_id, e)
            return
        except Exception:
            if not last_attempt:
                raise  # perhaps transient: the whole job runs again
            log.exception("bulk job %s item %s failed", job.id, item.index)
            self._jobs.record(job, item.index, jobs.failure(job.action, item.index, record_id, "InternalError",
                                                            "The item could not be processed"))
            return
        # when the change wrote nothing (no-op), or a race made it
        self._jobs.record(job, item.index, jobs.success(action, item.index, record_id))

    def _done(self, job: Job, item: JobItem, record_id: int, action: str | None = None) -> list[Any]:
        """The item's result (``action``: the job's unless given), to commit with its change."""
        return [self._jobs.result_write(job, item.index, jobs.success(action or job.action, item.index, record_id))]

    def _do_ticket(self, job: Job, item: JobItem) -> bool:
        """Do a ticket item; whether its result was committed with the change (not for an update
        that changed nothing)."""
        ticket_id = item.request["id"]
        also = self._done(job, item, ticket_id)
        if job.action == "create":
            self._tickets.create(job.account_id, self._read_ticket(item.request["ticket"], creating=True),
                                 author_email=job.author_email, ticket_id=ticket_id, also=also)
        elif job.action == "update":
            _, audit = self._tickets.update(job.account_id, ticket_id,
                                            self._read_ticket(item.request["ticket"], creating=False),
                                            author_email=job.author_email, also=also)
            return audit is not None
        elif job.action == "delete":
            self._tickets.delete(job.account_id, ticket_id, author_email=job.author_email, also=also)
        else:
            self._tickets.purge(job.account_id, ticket_id, also=also)
        return True

    def _do_user(self, job: Job, item: JobItem) -> tuple[int, str]:
        """Do a user item; the user's id (found by its external id when named so) and what was done."""
        request = item.request
        if job.action == "create":
            self._users.create(job.account_id, request["user"], user_id=request["id"],
                               also=self._done(job, item, request["id"]))
            return request["id"], job.action
        if job.action == "create_or_update":
            user, created = self._users.create_or_update(
                job.account_id, request["user"], user_id=request["id"],
                also=lambda created, user_id: self._done(job, item, user_id, _created_or_updated(created)))
            return user.id, _created_or_updated(created)
        user = (self._users.get(job.account_id, request["id"]) if request.get("id") is not None
                else self._users.find_external(job.account_id, request["external_id"]))
        also = self._done(job, item, user.id)
        if job.action == "update":
            self._users.update(job.account_id, user.id, request["user"], also=also)
        else:
            self._users.delete(job.account_id, user.id, also=also)
        return user.id, job.action


def _created_or_updated(created: bool) -> str:
    return "create" if created else "update"


def _bounded_list(raw: Any, name: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ValidationFailed([FieldError(name, f"{name.capitalize()}: must be a list")])
    if len(raw) > jobs.MAX_ITEMS:
        raise TooManyValues(f"Parameter {name} cannot specify more than {jobs.MAX_ITEMS} values")
    return raw


def _is_job_id(job_id: str) -> bool:
    return job_id.startswith("V3-") and len(job_id) == 35 and all(c in "0123456789abcdef" for c in job_id[3:])


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
