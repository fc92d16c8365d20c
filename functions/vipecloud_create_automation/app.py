"""POST /automations and POST /autoresponders: create; 200 (VipeCloud answers creates with 200)."""
from automations.bootstrap import services
from automations.surfaces import vipecloud


@vipecloud.endpoint
def handler(request):
    automations = services().contact_automations
    draft = vipecloud.read_rule(request)
    return vipecloud.automation_response(automations, automations.create(request.account_id, draft))
