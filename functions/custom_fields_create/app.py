"""POST /v1/custom-fields: 201 with the new integer id; 422 with every problem."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import CustomFieldIn, CustomFieldOut, custom_field_out

app = native.create_app()


@app.post("/v1/custom-fields", status_code=201)
def create(body: CustomFieldIn) -> CustomFieldOut:
    created = services().custom_fields.create(native.account_id(app), body.name, body.scope, body.type, body.options)
    return custom_field_out(created)


handler = app.resolve
