"""GET /v1/automations/{automation_id}: by integer id or uuid."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_automation_answers import AutomationOut, automation_out

app = native.create_app()


@app.get("/v1/automations/<automation_id>")
def get_automation(automation_id: str) -> AutomationOut:
    return automation_out(services().native_automations.get(native.account_id(app), automation_id))


handler = app.resolve
