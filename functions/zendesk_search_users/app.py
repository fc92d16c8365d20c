"""GET /api/v2/users/search(.json)?query= (name, email or external id) or ?external_id=: the users
found, by id."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.users_response(request, zendesk_people.searched(request, services().users))
