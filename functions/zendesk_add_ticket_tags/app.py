"""PUT /api/v2/tickets/{id}/tags(.json) {"tags": [...]}: adds tags to the ticket's; 200 {"tags"}."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    ticket, _ = services().tickets.update(request.account_id, zendesk.path_id(request),
                                          zendesk_tickets.tag_change(request, "additional_tags"),
                                          author_email=request.principal.email)
    return zendesk_tickets.tags_response(ticket)
