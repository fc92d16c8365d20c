"""GET /api/v2/tickets/show_many(.json)?ids=1,2: those of the tickets that exist (at most 100 ids)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    tickets = services().tickets.get_many(request.account_id, zendesk.query_ids(request))
    return zendesk_tickets.tickets_list_response(request, tickets)
