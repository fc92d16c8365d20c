"""DELETE /v1/templates/{template_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/templates/<template_id>", status_code=204)
def delete(template_id: str):
    services().templates.delete(native.account_id(app), path_id(template_id, "template"))
    return native.no_content()


handler = app.resolve
