"""GET /api/v2/tickets/{id}(.json)"""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    ticket = services().tickets.get(request.account_id, zendesk.path_id(request))
    return zendesk_tickets.ticket_response(request, ticket)
