"""GET /v1/contact-lists: the account's contact lists by id, cursor paginated."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Query, id_page
from automations.surfaces.native_contacts import ContactListPage, contact_list_out

app = native.create_app()


@app.get("/v1/contact-lists")
def list_all(limit: Annotated[int, Query(ge=1, le=100)] = 50,
             cursor: Annotated[str | None, Query(max_length=2048)] = None) -> ContactListPage:
    items, next_cursor = id_page(services().contact_lists.list(native.account_id(app)), limit, cursor)
    return ContactListPage(contact_lists=[contact_list_out(i) for i in items], next_cursor=next_cursor)


handler = app.resolve
