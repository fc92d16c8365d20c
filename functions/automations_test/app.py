"""POST /v1/automations/{automation_id}/test: a dry run for one contact or ticket, sending nothing."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_automation_answers import DryRunIn, DryRunOut

app = native.create_app()


@app.post("/v1/automations/<automation_id>/test")
def test_automation(automation_id: str, dry_run: DryRunIn) -> DryRunOut:
    automation = services().native_automations.get(native.account_id(app), automation_id)
    if dry_run.ticket_id is not None:
        return DryRunOut(**services().dry_run.ticket(automation, dry_run.ticket_id))
    return DryRunOut(**services().dry_run.contact(automation, dry_run.contact_uuid, dry_run.data))


handler = app.resolve
