"""PATCH /v1/automations/{automation_id}: attributes left out stay; the result is checked whole."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_automation_answers import AutomationOut, automation_out
from automations.surfaces.native_automations import AutomationPatch, merged

app = native.create_app()


@app.patch("/v1/automations/<automation_id>")
def update_automation(automation_id: str, patch: AutomationPatch) -> AutomationOut:
    return automation_out(services().native_automations.patch(native.account_id(app), automation_id,
                                                              lambda current: merged(current, patch)))


handler = app.resolve
