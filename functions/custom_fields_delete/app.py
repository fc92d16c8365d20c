"""DELETE /v1/custom-fields/{field_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/custom-fields/<field_id>", status_code=204)
def delete(field_id: str):
    services().custom_fields.delete(native.account_id(app), path_id(field_id, "custom field"))
    return native.no_content()


handler = app.resolve
