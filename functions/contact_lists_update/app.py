"""PATCH /v1/contact-lists/{list_id}: attributes left out stay."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes, path_id
from automations.surfaces.native_contacts import ContactListOut, ContactListPatch, contact_list_out

app = native.create_app()


@app.patch("/v1/contact-lists/<list_id>")
def update(list_id: str, patch: ContactListPatch) -> ContactListOut:
    updated = services().contact_lists.update(native.account_id(app), path_id(list_id, "contact list"), changes(patch))
    return contact_list_out(updated)


handler = app.resolve
