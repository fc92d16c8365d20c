"""GET /api/v2/groups(.json): 200 {"groups"}, by id, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.groups_response(request, services().agent_groups.list(request.account_id))
