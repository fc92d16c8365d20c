"""PATCH /v1/contacts/{contact_uuid}: attributes left out stay, ``null`` clears; custom fields merge."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes
from automations.surfaces.native_contacts import ContactIn, ContactOut, contact_out

app = native.create_app()


@app.patch("/v1/contacts/<contact_uuid>")
def update_contact(contact_uuid: str, patch: ContactIn) -> ContactOut:
    return contact_out(services().contacts.update(native.account_id(app), contact_uuid, changes(patch)))


handler = app.resolve
