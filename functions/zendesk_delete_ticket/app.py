"""DELETE /api/v2/tickets/{id}(.json): 204, the ticket moved to the deleted tickets; a request
body (zenpy sends one) is ignored."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    services().tickets.delete(request.account_id, zendesk.path_id(request), author_email=request.principal.email)
    return zendesk.no_content()
