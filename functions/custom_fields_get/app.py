"""GET /v1/custom-fields/{field_id}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import CustomFieldOut, custom_field_out

app = native.create_app()


@app.get("/v1/custom-fields/<field_id>")
def get(field_id: str) -> CustomFieldOut:
    return custom_field_out(services().custom_fields.get(native.account_id(app), path_id(field_id, "custom field")))


handler = app.resolve
