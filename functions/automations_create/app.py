"""POST /v1/automations: 201; any kind of automation, told apart by ``trigger``."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Body
from automations.surfaces.native_automation_answers import AutomationOut, automation_out
from automations.surfaces.native_automations import AutomationIn, draft

app = native.create_app()


@app.post("/v1/automations", status_code=201)
def create_automation(automation: Annotated[AutomationIn, Body()]) -> AutomationOut:
    created = services().native_automations.create(native.account_id(app), draft(automation))
    return automation_out(created)


handler = app.resolve
