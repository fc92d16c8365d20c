"""GET /api/v2/incremental/tickets(.json)?start_time=<unix seconds>: the time-based incremental
export, deleted tickets included (status "deleted")."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.export_response(request, services().tickets)
