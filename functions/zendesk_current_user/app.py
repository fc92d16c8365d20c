"""GET /api/v2/users/me(.json): the caller, the API key owner (an agent)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.user_response(request, services().users.me(request.account_id, request.principal.email))
