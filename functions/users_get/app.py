"""GET /v1/users/{user_id}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_people import UserOut, user_out

app = native.create_app()


@app.get("/v1/users/<user_id>")
def get_user(user_id: str) -> UserOut:
    return user_out(services().users.get(native.account_id(app), path_id(user_id, "user")))


handler = app.resolve
