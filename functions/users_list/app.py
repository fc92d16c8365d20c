"""GET /v1/users: the account's users by id, cursor paginated; ``?email=`` looks one up."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Query
from automations.surfaces.native_people import UserPage, user_out

app = native.create_app()


@app.get("/v1/users")
def list_users(email: Annotated[str | None, Query(max_length=320)] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 50,
               cursor: Annotated[str | None, Query(max_length=2048)] = None) -> UserPage:
    users = services().users
    if email is not None:
        found = users.find_by_email(native.account_id(app), email)
        return UserPage(users=[user_out(found)] if found else [], next_cursor=None)
    page, next_cursor = users.page(native.account_id(app), cursor=cursor, limit=limit)
    return UserPage(users=[user_out(u) for u in page], next_cursor=next_cursor)


handler = app.resolve
