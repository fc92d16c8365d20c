"""SQS fan-out of sweep tasks."""
from __future__ import annotations

from automations.service.sweep import SweepTask

_BATCH = 10  # SQS's limit per SendMessageBatch


class SqsSweepQueue:
    def __init__(self, client, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, tasks: list[SweepTask]) -> None:
        for start in range(0, len(tasks), _BATCH):
            batch = {str(i): task.to_json() for i, task in enumerate(tasks[start:start + _BATCH])}
            for _ in range(3):  # resend only the entries SQS reports as failed
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[
                    {"Id": key, "MessageBody": body} for key, body in batch.items()])
                batch = {f["Id"]: batch[f["Id"]] for f in answer.get("Failed", [])}
                if not batch:
                    break
            if batch:
                raise RuntimeError(f"SQS refused {len(batch)} sweep tasks")
