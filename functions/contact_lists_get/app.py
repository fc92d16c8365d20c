"""GET /v1/contact-lists/{list_id}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import ContactListOut, contact_list_out

app = native.create_app()


@app.get("/v1/contact-lists/<list_id>")
def get(list_id: str) -> ContactListOut:
    return contact_list_out(services().contact_lists.get(native.account_id(app), path_id(list_id, "contact list")))


handler = app.resolve
