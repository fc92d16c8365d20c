"""PUT /api/v2/tickets/{id}(.json): partial update; 200 with the ticket and the change's audit."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    ticket, audit = services().tickets.update(request.account_id, zendesk.path_id(request),
                                              zendesk_tickets.ticket_from_body(request, creating=False),
                                              author_email=request.principal.email)
    return zendesk_tickets.change_response(request, ticket, audit)
