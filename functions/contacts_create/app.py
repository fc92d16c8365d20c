"""POST /v1/contacts: 201; 409 when another contact of the account has the email."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import ContactIn, ContactOut, contact_out

app = native.create_app()


@app.post("/v1/contacts", status_code=201)
def create_contact(contact: ContactIn) -> ContactOut:
    created = services().contacts.create(native.account_id(app), contact.model_dump(exclude_none=True))
    return contact_out(created)


handler = app.resolve
