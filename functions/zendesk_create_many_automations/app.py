"""POST /api/v2/automations/create_many(.json): what zenpy sends when given a list."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    automations = services().automations.create_many(request.account_id, zendesk.drafts_from_body(request))
    return zendesk.automations_response(request, automations)
