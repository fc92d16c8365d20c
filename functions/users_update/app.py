"""PATCH /v1/users/{user_id}: name and/or role; an agent made an end-user leaves its groups."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes, path_id
from automations.surfaces.native_people import UserOut, UserPatch, user_out

app = native.create_app()


@app.patch("/v1/users/<user_id>")
def update_user(user_id: str, patch: UserPatch) -> UserOut:
    return user_out(services().users.update(native.account_id(app), path_id(user_id, "user"), changes(patch)))


handler = app.resolve
