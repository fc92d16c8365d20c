"""POST /api/v2/tickets/{id}/tags(.json) {"tags": [...]}: replaces the ticket's tags; 200 {"tags"}."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    ticket, _ = services().tickets.update(request.account_id, zendesk.path_id(request),
                                          zendesk_tickets.tag_change(request, "tags"),
                                          author_email=request.principal.email)
    return zendesk_tickets.tags_response(ticket)
