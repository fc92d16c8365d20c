"""PUT /api/v2/users/{id}(.json) {"user": {...}}: 200 {"user"}, the attributes given changed."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    user = services().users.update(request.account_id, zendesk.path_id(request),
                                   zendesk_people.user_from_body(request))
    return zendesk_people.user_response(request, user)
