"""DELETE /v1/contacts/{contact_uuid}: 204; the contact leaves its lists and communities."""
from automations.bootstrap import services
from automations.surfaces import native

app = native.create_app()


@app.delete("/v1/contacts/<contact_uuid>", status_code=204)
def delete_contact(contact_uuid: str):
    services().contacts.delete(native.account_id(app), contact_uuid)
    return native.no_content()


handler = app.resolve
