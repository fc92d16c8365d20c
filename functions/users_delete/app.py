"""DELETE /v1/users/{user_id}: 204; the user leaves its groups."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/users/<user_id>", status_code=204)
def delete_user(user_id: str):
    services().users.delete(native.account_id(app), path_id(user_id, "user"))
    return native.no_content()


handler = app.resolve
