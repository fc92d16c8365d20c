"""DELETE /api/v2/tickets/{id}(.json): 204; a request body (zenpy sends one) is ignored."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    services().tickets.delete(request.account_id, zendesk.path_id(request))
    return zendesk.no_content()
