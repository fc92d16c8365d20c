"""GET /api/v2/users(.json): the account's users by id, offset or cursor paginated, ``role`` or
``role[]`` filtering them."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.list_response(request, services().users)
