"""GET /api/v2/tickets(.json): tickets by id, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.tickets_response(request, services().tickets)
