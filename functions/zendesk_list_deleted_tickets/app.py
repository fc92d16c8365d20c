"""GET /api/v2/deleted_tickets(.json): the deleted tickets by id, offset paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.deleted_tickets_response(request, services().tickets)
