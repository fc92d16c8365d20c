"""GET /api/v2/incremental/users/cursor(.json)?start_time=|cursor=: the cursor-based incremental user
export, deleted users included (``active`` false)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.export_cursor_response(request, services().users)
