"""POST /api/v2/automations/create_many(.json): what zenpy sends when given a list."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    automations = services().automations.create_many(request.account_id, zendesk_automations.drafts_from_body(request))
    return zendesk_automations.automations_response(request, automations)
