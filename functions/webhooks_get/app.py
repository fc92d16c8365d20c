"""GET /v1/webhooks/{webhook_id} (the secret is never shown again)."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_webhooks import WebhookOut, webhook_out

app = native.create_app()


@app.get("/v1/webhooks/<webhook_id>")
def get_webhook(webhook_id: str) -> WebhookOut:
    return webhook_out(services().webhooks.get(native.account_id(app), webhook_id))


handler = app.resolve
