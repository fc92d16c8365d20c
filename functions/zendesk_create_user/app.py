"""POST /api/v2/users(.json) {"user": {...}}: 201 with the user and a Location header; an end-user
unless ``role`` says agent, a name alone will do."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    user = services().users.create(request.account_id, zendesk_people.user_from_body(request))
    return zendesk_people.user_response(request, user, status=201)
