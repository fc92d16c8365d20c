"""PUT /api/v2/deleted_tickets/{id}/restore(.json): 200 {}, the ticket back as it was."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    services().tickets.restore(request.account_id, [zendesk.path_id(request)])
    return zendesk_tickets.restored_response()
