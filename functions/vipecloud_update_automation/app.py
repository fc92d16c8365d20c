"""POST /automations/{id} and POST /autoresponders/{id}: replace the automation with the body
(the same fields as a create; a missing trigger_type keeps the current one)."""
from automations.bootstrap import services
from automations.surfaces import vipecloud


@vipecloud.endpoint
def handler(request):
    automations = services().contact_automations
    automation_id = vipecloud.path_id(request)
    rule = vipecloud.read_rule(request, automations, automation_id=automation_id)
    with vipecloud.not_found_as(vipecloud.UPDATE_FAILED):
        automation = automations.save(request.account_id, rule, automation_id)
    return vipecloud.automation_response(automations, automation)
