"""GET /v1/webhooks: the account's webhooks, oldest first, cursor paginated."""
from typing import Annotated

from automations.bootstrap import services
from automations.paging import cursor_page
from automations.surfaces import native
from automations.surfaces.native import Query
from automations.surfaces.native_webhooks import WebhookPage, webhook_out

app = native.create_app()


@app.get("/v1/webhooks")
def list_webhooks(limit: Annotated[int, Query(ge=1, le=100)] = 50,
                  cursor: Annotated[str | None, Query(max_length=2048)] = None) -> WebhookPage:
    webhooks = services().webhooks.list(native.account_id(app))
    page = cursor_page(webhooks, lambda w: [w.created_at.isoformat(), w.id], limit, after=cursor)
    return WebhookPage(webhooks=[webhook_out(w) for w in page.items],
                       next_cursor=page.after_cursor if page.has_more else None)


handler = app.resolve
