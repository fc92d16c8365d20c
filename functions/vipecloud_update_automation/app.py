"""POST /automations/{id} and POST /autoresponders/{id}: replace the automation with the body
(the same fields as a create; a missing trigger_type keeps the current one)."""
from automations.bootstrap import services
from automations.surfaces import vipecloud


@vipecloud.endpoint
def handler(request):
    automations = services().contact_automations
    draft = vipecloud.read_rule(request, update=True)
    with vipecloud.not_found_as(vipecloud.UPDATE_FAILED):
        automation = automations.update(request.account_id, vipecloud.path_id(request), draft)
    return vipecloud.automation_response(automations, automation)
