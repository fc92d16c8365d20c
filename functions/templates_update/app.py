"""PATCH /v1/templates/{template_id}: attributes left out stay; the type cannot change."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import TemplateOut, TemplatePatch, template_out, template_values

app = native.create_app()


@app.patch("/v1/templates/<template_id>")
def update(template_id: str, patch: TemplatePatch) -> TemplateOut:
    updated = services().templates.update(native.account_id(app), path_id(template_id, "template"),
                                          template_values(patch, partial=True))
    return template_out(updated)


handler = app.resolve
