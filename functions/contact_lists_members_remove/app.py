"""DELETE /v1/contact-lists/{list_id}/members/{contact_uuid}: 204; 404 when not a member."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/contact-lists/<list_id>/members/<contact_uuid>", status_code=204)
def remove_member(list_id: str, contact_uuid: str):
    services().contact_lists.remove_member(native.account_id(app), path_id(list_id, "contact list"), contact_uuid)
    return native.no_content()


handler = app.resolve
