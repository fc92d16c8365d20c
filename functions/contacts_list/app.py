"""GET /v1/contacts: the account's contacts in uuid order, cursor paginated; ``?email=`` looks one up."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Query
from automations.surfaces.native_contacts import ContactPage, contact_out

app = native.create_app()


@app.get("/v1/contacts")
def list_contacts(email: Annotated[str | None, Query(max_length=320)] = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 50,
                  cursor: Annotated[str | None, Query(max_length=2048)] = None) -> ContactPage:
    contacts = services().contacts
    if email is not None:
        found = contacts.find_by_email(native.account_id(app), email)
        return ContactPage(contacts=[contact_out(found)] if found else [], next_cursor=None)
    page, next_cursor = contacts.page(native.account_id(app), cursor=cursor, limit=limit)
    return ContactPage(contacts=[contact_out(c) for c in page], next_cursor=next_cursor)


handler = app.resolve
