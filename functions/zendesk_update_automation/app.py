"""PUT /api/v2/automations/{id}(.json): partial update; an ``id`` in the body is tolerated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    automation_id = zendesk.path_id(request)
    automation = services().automations.update(request.account_id, automation_id, zendesk_automations.changes_from_body(request),
                                                 kinds=zendesk_automations.KINDS)
    return zendesk_automations.automation_response(request, automation)
