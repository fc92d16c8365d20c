"""GET /api/v2/incremental/tickets/cursor(.json)?start_time=|cursor=: the cursor-based incremental
export, deleted tickets included (status "deleted")."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.export_cursor_response(request, services().tickets)
