"""POST /v1/webhooks: register a webhook; its signing secret is in this answer only."""
from aws_lambda_powertools.event_handler import Response

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_webhooks import WebhookCreated, WebhookIn, webhook_out

app = native.create_app()


@app.post("/v1/webhooks")
def create_webhook(webhook: WebhookIn) -> Response[WebhookCreated]:
    created = services().webhooks.create(native.account_id(app), webhook.name, webhook.url)
    body = WebhookCreated(**webhook_out(created).model_dump(), secret=created.secret)
    return Response(201, "application/json", body)


def handler(event, context):
    return app.resolve(event, context)
