"""/api/v2/tickets/{id}/tags(.json) {"tags": [...]}: PUT adds them, POST sets them (replacing),
DELETE removes them; 200 {"tags"}. One function per method in template.yaml, this code for all."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets

_CHANGES = {"PUT": "additional_tags", "POST": "tags", "DELETE": "remove_tags"}  # as ticket update fields


@zendesk.endpoint
def handler(request):
    ticket, _ = services().tickets.update(request.account_id, zendesk.path_id(request),
                                          zendesk_tickets.tag_change(request, _CHANGES[request.method]),
                                          author_email=request.principal.email)
    return zendesk_tickets.tags_response(ticket)
