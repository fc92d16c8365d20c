"""GET /api/v2/tags(.json): 200 {"tags": [{"name", "count"}]}, the account's ticket tags, most used
first, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.account_tags_response(request, services().tickets)
