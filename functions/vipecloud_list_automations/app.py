"""GET /automations and GET /autoresponders: the account's contact automations as a bare array."""
from automations.bootstrap import services
from automations.surfaces import vipecloud


@vipecloud.endpoint
def handler(request):
    automations = services().contact_automations
    return vipecloud.automations_response(automations, automations.list(request.account_id))
