"""DELETE /v1/contact-lists/{list_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/contact-lists/<list_id>", status_code=204)
def delete(list_id: str):
    services().contact_lists.delete(native.account_id(app), path_id(list_id, "contact list"))
    return native.no_content()


handler = app.resolve
