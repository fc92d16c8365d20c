"""DELETE /v1/automations/{automation_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native

app = native.create_app()


@app.delete("/v1/automations/<automation_id>", status_code=204)
def delete_automation(automation_id: str):
    services().native_automations.delete(native.account_id(app), automation_id)
    return native.no_content()


handler = app.resolve
