"""SQS fan-out: sweep tasks, runs to execute now, and pages of recurring expansions."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.adapters.aws import BACKOFF
from automations.domain.messages import BucketDispatch, ExpandQueueMessage, RedrivePass, RunReference, TicketJob
from automations.domain.sweep import FanOut, SweepTask

_BATCH = 10  # SQS's limit per SendMessageBatch and ChangeMessageVisibilityBatch
_BATCH_BYTES = 256 * 1024  # SQS's limit on one message, and on a SendMessageBatch's messages together
_log = logging.getLogger(__name__)


def send_all(client, queue_url: str, bodies: list[str], what: str, delays: list[int] | None = None) -> None:
    """Send every body (each held back its delay in seconds, if given), in batches, resending
    only what SQS reports as failed (throttled), with the one backoff; Busy when it keeps failing."""
    entries = [{"MessageBody": body, **({"DelaySeconds": delays[i]} if delays and delays[i] else {})}
               for i, body in enumerate(bodies)]
    for entries_of_batch in _batches(entries):
        batch = {str(i): entry for i, entry in enumerate(entries_of_batch)}
        for _ in BACKOFF.tries(f"SQS kept refusing {what}"):
            answer = client.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": key, **entry} for key, entry in batch.items()])
            failed = answer.get("Failed", [])
            if refused := [f for f in failed if f.get("SenderFault")]:  # the message itself: never accepted
                raise ValueError(f"SQS refused {what}: {refused[0].get('Code')}: {refused[0].get('Message')}")
            batch = {f["Id"]: batch[f["Id"]] for f in failed}
            if not batch:
                break


def _batches(entries: list[dict]) -> list[list[dict]]:
    """``entries`` in order, in batches of at most ten messages and 256 KB together."""
    batches: list[list[dict]] = []
    size = 0
    for entry in entries:
        body = len(entry["MessageBody"].encode())
        if not batches or len(batches[-1]) == _BATCH or size + body > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += body
    return batches


def send_again(client, queue_url: str, records: list[tuple[str, str]], delay_s: int = 0) -> bool:
    """Received messages (body, receipt handle) handed on as new ones, ``delay_s`` later: a new
    message starts its receives at none, where one made visible again counts this receive toward
    the queue's maxReceiveCount, and a message handed back five times would go to the dead-letter
    queue unstarted. Whether they went; if not, they are visible again at once instead."""
    try:
        send_all(client, queue_url, [body for body, _ in records], "messages handed back", [delay_s] * len(records))
        return True
    except Exception as error:  # noqa: BLE001 - best effort: the originals stay on the queue
        _log.warning("messages not handed on as new ones (visible again instead): %s", error)
        visible_now(client, queue_url, [handle for _, handle in records])
        return False


def visible_now(client, queue_url: str, receipt_handles: list[str]) -> None:
    """Received messages left unstarted, visible again at once rather than after the queue's
    visibility timeout. Best effort: one this cannot reach still comes back then."""
    for start in range(0, len(receipt_handles), _BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                   for i, handle in enumerate(receipt_handles[start:start + _BATCH])]
        try:
            failed = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        except (BotoCoreError, ClientError) as error:
            failed = entries
            _log.warning("messages not made visible again (they come back after their visibility timeout): %s", error)
        if failed:
            _log.warning("%d of %d messages come back only after their visibility timeout", len(failed), len(entries))


class SqsSweepQueue:
    """Either of the sweep's queues: its tasks (for the workers), or its fan-out steps (for the coordinator)."""

    def __init__(self, client, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, messages: list[SweepTask] | list[FanOut], *, delay_s: int = 0) -> None:
        send_all(self._sqs, self._url, [message.to_json() for message in messages], "sweep messages",
                 [delay_s] * len(messages))


class SqsRunQueue:
    def __init__(self, client, run_queue_url: str, expand_queue_url: str) -> None:
        self._sqs = client
        self._runs = run_queue_url
        self._expansions = expand_queue_url

    def execute_soon(self, runs: list[tuple[str, str]], delays: list[int] | None = None, *,
                     redriven: bool = False) -> None:
        bodies = [RunReference(account_id, run_id, redriven).to_json() for account_id, run_id in runs]
        send_all(self._sqs, self._runs, bodies, "runs", delays)

    def dispatch_later(self, task: BucketDispatch | RedrivePass) -> None:
        send_all(self._sqs, self._runs, [task.to_json()], "time buckets")

    def expand_later(self, tasks: list[ExpandQueueMessage]) -> None:
        send_all(self._sqs, self._expansions, [task.to_json() for task in tasks], "expander tasks")


class SqsJobQueue:
    """Bulk ticket jobs for the ticket job worker. The client and URL are looked up on the first
    send: the functions that only read job statuses have neither."""

    def __init__(self, client: Callable[[], Any], queue_url: Callable[[], str]) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, account_id: str, job_id: str, *, delay_s: int = 0) -> None:
        self._sqs().send_message(QueueUrl=self._url(), MessageBody=TicketJob(account_id, job_id).to_json(),
                                 DelaySeconds=delay_s)
