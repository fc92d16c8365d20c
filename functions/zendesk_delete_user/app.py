"""DELETE /api/v2/users/{id}(.json): 200 {"user"} as deleted (``active`` false), as Zendesk answers."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.user_response(request, services().users.delete(request.account_id, zendesk.path_id(request)))
