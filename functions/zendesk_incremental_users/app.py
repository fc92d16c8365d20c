"""GET /api/v2/incremental/users(.json)?start_time=: the time-based incremental user export,
deleted users included (``active`` false)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.export_response(request, services().users)
