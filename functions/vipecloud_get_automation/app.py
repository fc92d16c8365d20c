"""GET /automations/{id} and GET /autoresponders/{id}; a missing or foreign id is a 422."""
from automations.bootstrap import services
from automations.surfaces import vipecloud


@vipecloud.endpoint
def handler(request):
    automations = services().contact_automations
    with vipecloud.not_found_as(vipecloud.NOT_FOUND):
        automation = automations.get(request.account_id, vipecloud.path_id(request))
    return vipecloud.automation_response(automations, automation)
