"""DynamoDB storage of webhooks: PK=ACCOUNT#<a>, SK=WEBHOOK#<id>."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from automations.adapters.table import Table, document, text
from automations.domain.webhook import Webhook


class DynamoWebhookStore(Table):

    @staticmethod
    def _key(account_id: str, webhook_id: str) -> dict:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"WEBHOOK#{webhook_id}")}

    @staticmethod
    def _from_item(item: dict) -> Webhook:
        doc = json.loads(item["data"]["S"])
        return Webhook(**{**doc, "created_at": datetime.fromisoformat(doc["created_at"])})

    def put(self, webhook: Webhook) -> None:
        doc = {**asdict(webhook), "created_at": webhook.created_at.isoformat()}
        self._db.put_item(TableName=self._table, Item={**self._key(webhook.account_id, webhook.id),
                                                       "data": document(doc)},
                          ConditionExpression="attribute_not_exists(PK)")

    def get(self, account_id: str, webhook_id: str) -> Webhook | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, webhook_id)).get("Item")
        return self._from_item(item) if item else None

    def list(self, account_id: str) -> list[Webhook]:
        return [self._from_item(i) for i in self.query_all({
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :w)",
            "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"), ":w": text("WEBHOOK#")}})]

    def delete(self, webhook: Webhook) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(webhook.account_id, webhook.id))
