"""POST /v1/webhooks: register a webhook; its signing secret is in this answer only."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_webhooks import WebhookCreated, WebhookIn, webhook_out

app = native.create_app()


@app.post("/v1/webhooks", status_code=201)
def create_webhook(webhook: WebhookIn) -> WebhookCreated:
    created = services().webhooks.create(native.account_id(app), webhook.name, webhook.url)
    return WebhookCreated(**webhook_out(created).model_dump(), secret=created.secret)


handler = app.resolve
