"""POST /v1/contact-lists: 201 with the new integer id."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import ContactListIn, ContactListOut, contact_list_out

app = native.create_app()


@app.post("/v1/contact-lists", status_code=201)
def create(body: ContactListIn) -> ContactListOut:
    created = services().contact_lists.create(native.account_id(app), body.name)
    return contact_list_out(created)


handler = app.resolve
