"""DELETE /v1/webhooks/{webhook_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native

app = native.create_app()


@app.delete("/v1/webhooks/<webhook_id>", status_code=204)
def delete_webhook(webhook_id: str):
    services().webhooks.delete(native.account_id(app), webhook_id)
    return native.no_content()


handler = app.resolve
