"""PATCH /v1/custom-fields/{field_id}: attributes left out stay; the type cannot change."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes, path_id
from automations.surfaces.native_contacts import CustomFieldOut, CustomFieldPatch, custom_field_out

app = native.create_app()


@app.patch("/v1/custom-fields/<field_id>")
def update(field_id: str, patch: CustomFieldPatch) -> CustomFieldOut:
    updated = services().custom_fields.update(native.account_id(app), path_id(field_id, "custom field"),
                                          changes(patch))
    return custom_field_out(updated)


handler = app.resolve
