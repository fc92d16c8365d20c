"""GET /api/v2/tickets/{id}/audits(.json): every audit of the ticket, oldest first."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    audits = services().tickets.audits(request.account_id, zendesk.path_id(request))
    return zendesk_tickets.audits_response(audits)
