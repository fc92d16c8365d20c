"""Native API shapes for webhooks."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field

from automations.domain.webhook import Webhook
from automations.surfaces.native_models import Input, Model


class WebhookIn(Input):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL the signed POSTs go to")


class WebhookOut(Model):
    id: str
    name: str
    url: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key of the X-Automations-Signature header; shown only now")


class WebhookPage(Model):
    webhooks: list[WebhookOut]
    next_cursor: str | None


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(id=webhook.id, name=webhook.name, url=webhook.url, created_at=webhook.created_at)
