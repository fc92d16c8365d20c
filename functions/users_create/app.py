"""POST /v1/users: 201; 409 when the account already has a user with the email."""
from aws_lambda_powertools.event_handler import Response

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_people import UserIn, UserOut, user_out

app = native.create_app()


@app.post("/v1/users")
def create_user(user: UserIn) -> Response[UserOut]:
    created = services().users.create(native.account_id(app), user.name, user.email, user.role)
    return Response(201, "application/json", user_out(created))


def handler(event, context):
    return app.resolve(event, context)
