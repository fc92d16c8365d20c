"""GET /api/v2/automations/{id}(.json)"""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    automation = services().automations.get(request.account_id, zendesk.path_id(request), kinds=zendesk_automations.KINDS)
    return zendesk_automations.automation_response(request, automation)
