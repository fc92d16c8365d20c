"""GET /v1/contacts/{contact_uuid}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import ContactOut, contact_out

app = native.create_app()


@app.get("/v1/contacts/<contact_uuid>")
def get_contact(contact_uuid: str) -> ContactOut:
    return contact_out(services().contacts.get(native.account_id(app), contact_uuid))


handler = app.resolve
