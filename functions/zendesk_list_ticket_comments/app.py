"""GET /api/v2/tickets/{id}/comments(.json): the ticket's comments, oldest first, offset or
cursor paginated, ``sort_order=desc`` for newest first."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.comments_response(request, services().tickets)
