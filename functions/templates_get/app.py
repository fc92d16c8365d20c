"""GET /v1/templates/{template_id}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import TemplateOut, template_out

app = native.create_app()


@app.get("/v1/templates/<template_id>")
def get(template_id: str) -> TemplateOut:
    return template_out(services().templates.get(native.account_id(app), path_id(template_id, "template")))


handler = app.resolve
