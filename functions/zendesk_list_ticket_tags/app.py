"""GET /api/v2/tickets/{id}/tags(.json): 200 {"tags": [...]}, the ticket's tags."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.tags_response(services().tickets.get(request.account_id, zendesk.path_id(request)))
