"""Webhooks an account registers so its automations can call them (notification_webhook,
notification_target, webhook actions). The signing secret is shown once, at creation."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from automations import clock
from automations.domain.webhook import Webhook
from automations.errors import Problems, found


class WebhookService:
    def __init__(self, store) -> None:
        self._store = store

    def create(self, account_id: str, name: str, url: str) -> Webhook:
        problems = Problems()
        if not name.strip():
            problems.add("name", "Name: cannot be blank")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.add("url", "URL: must be an absolute http or https URL")
        problems.raise_if_any()
        webhook = Webhook(account_id=account_id, id=f"wh_{secrets.token_hex(8)}", name=name.strip(), url=url,
                          secret=secrets.token_urlsafe(32), created_at=clock.now())
        self._store.put(webhook)
        return webhook

    def get(self, account_id: str, webhook_id: str) -> Webhook:
        return found(self._store.get(account_id, webhook_id), f"webhook {webhook_id}")

    def list(self, account_id: str) -> list[Webhook]:
        return sorted(self._store.list(account_id), key=lambda w: (w.created_at, w.id))

    def delete(self, account_id: str, webhook_id: str) -> None:
        self._store.delete(self.get(account_id, webhook_id))

    def find(self, account_id: str, webhook_id: str) -> dict | None:
        """What the webhook sender needs: url and secret."""
        webhook = self._store.get(account_id, webhook_id)
        return {"url": webhook.url, "secret": webhook.secret} if webhook else None
