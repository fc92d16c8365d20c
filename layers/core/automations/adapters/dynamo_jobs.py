"""DynamoDB storage of bulk jobs (domain/job.py). A job is a head item
(PK=ACCOUNT#<account>, SK=JOB#<id>) and one item per request item (PK=ACCOUNT#<account>#JOB#<id>,
SK=ITEM#<5-digit index>) holding the request and, once done, its result. A result is written only
if none is (attribute_not_exists), in the same transaction as the change it reports, so a
job run twice never applies an item twice. Everything expires through the table's TTL a day after
the job was made (Zendesk keeps job statuses for a while, not for ever)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.aws import has_code
from automations.adapters.account_table import AccountTable
from automations.adapters.table import document, number, text
from automations.domain.job import Job, JobItem

_KEPT = timedelta(days=1)


class DynamoJobStore(AccountTable):
    @classmethod
    def _head_key(cls, account_id: str, job_id: str) -> dict[str, Any]:
        return cls._account_key(account_id, f"JOB#{job_id}")

    @staticmethod
    def _item_key(job: Job, index: int) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{job.account_id}#JOB#{job.id}"), "SK": text(f"ITEM#{index:05d}")}

    @staticmethod
    def _expiry(job: Job) -> dict[str, str]:
        return number(int((job.created_at + _KEPT).timestamp()))

    def create(self, job: Job, items: list[JobItem]) -> None:
        """The items first, then the head: a job that can be read is whole."""
        self.batch_put([{**self._item_key(job, i.index), "request": document(i.request), "expires_at": self._expiry(job)}
                        for i in items])
        self._db.put_item(TableName=self._table, Item={**self._head_key(job.account_id, job.id),
                                                       "data": _head(job, job.status, job.message),
                                                       "expires_at": self._expiry(job)})

    def get(self, account_id: str, job_id: str) -> Job | None:
        item = self._db.get_item(TableName=self._table, Key=self._head_key(account_id, job_id),
                                 ConsistentRead=True).get("Item")
        if item is None:
            return None
        doc = json.loads(item["data"]["S"])
        return Job(account_id=account_id, id=job_id, action=doc["action"], total=doc["total"],
                   author_email=doc["author_email"], created_at=datetime.fromisoformat(doc["created_at"]),
                   status=doc["status"], message=doc["message"], subject=doc.get("subject", "ticket"))

    def items(self, account_id: str, job_id: str) -> list[JobItem]:
        query = {"KeyConditionExpression": "PK = :pk", "ConsistentRead": True,
                 "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}#JOB#{job_id}")}}
        return [JobItem(index=int(i["SK"]["S"].removeprefix("ITEM#")), request=json.loads(i["request"]["S"]),
                        result=json.loads(i["result"]["S"]) if "result" in i else None) for i in self.query_all(query)]

    def set_status(self, job: Job, status: str, message: str | None) -> None:
        self._db.update_item(TableName=self._table, Key=self._head_key(job.account_id, job.id),
                             UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
                             ExpressionAttributeValues={":d": _head(job, status, message)})

    def result_write(self, job: Job, index: int, result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return ("result", {"Update": {
            "TableName": self._table, "Key": self._item_key(job, index), "UpdateExpression": "SET #r = :r",
            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(#r)",
            "ExpressionAttributeNames": {"#r": "result"}, "ExpressionAttributeValues": {":r": document(result)}}})

    def record(self, job: Job, index: int, result: dict[str, Any]) -> bool:
        try:
            self._db.update_item(**self.result_write(job, index, result)[1]["Update"])
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return False
            raise
        return True


def _head(job: Job, status: str, message: str | None) -> dict[str, str]:
    return document({"action": job.action, "subject": job.subject, "total": job.total, "author_email": job.author_email,
                  "created_at": job.created_at.isoformat(), "status": status, "message": message})
