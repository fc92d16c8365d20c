"""POST /api/v2/tickets(.json): 201 with the ticket, its audit and a Location header."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    draft = zendesk_tickets.ticket_from_body(request, creating=True)
    ticket, audit = services().tickets.create(request.account_id, draft, author_email=request.principal.email)
    return zendesk_tickets.change_response(request, ticket, audit, status=201)
