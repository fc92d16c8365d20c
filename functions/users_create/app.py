"""POST /v1/users: 201; 409 when the account already has a user with the email."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_people import UserIn, UserOut, user_out

app = native.create_app()


@app.post("/v1/users", status_code=201)
def create_user(user: UserIn) -> UserOut:
    created = services().users.create(native.account_id(app), {"name": user.name, "email": user.email,
                                                                 "role": user.role})
    return user_out(created)


handler = app.resolve
