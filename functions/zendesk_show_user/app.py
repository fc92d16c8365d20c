"""GET /api/v2/users/{id}(.json): what zenpy reads for ticket.requester, .submitter, .assignee."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.user_response(request, services().users.get(request.account_id, zendesk.path_id(request)))
