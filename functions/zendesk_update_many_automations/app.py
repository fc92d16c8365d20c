"""PUT /api/v2/automations/update_many(.json): id, position and active of several automations."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    automations = services().automations.update_many(request.account_id, zendesk_automations.bulk_changes_from_body(request),
                                                      kinds=zendesk_automations.KINDS)
    return zendesk_automations.automations_response(request, automations)
