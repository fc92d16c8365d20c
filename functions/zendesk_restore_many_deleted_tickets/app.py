"""PUT /api/v2/deleted_tickets/restore_many(.json)?ids=1,2: 200 {}, those found restored."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    services().tickets.restore(request.account_id, zendesk.query_ids(request), all_known=False)
    return zendesk_tickets.restored_response()
