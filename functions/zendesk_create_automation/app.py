"""POST /api/v2/automations(.json): 201 with a Location header."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    automation = services().automations.create(request.account_id, zendesk_automations.draft_from_body(request))
    return zendesk_automations.automation_response(request, automation, status=201)
