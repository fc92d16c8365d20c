"""DELETE /api/v2/automations/{id}(.json): 204; a request body (zenpy sends one) is ignored."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    services().automations.delete(request.account_id, zendesk.path_id(request), kinds=zendesk_automations.KINDS)
    return zendesk.no_content()
