"""GET /api/v2/automations(.json): every automation, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    order = zendesk_automations.ordering(request, services().automations)
    automations = services().automations.list(
        request.account_id, active=zendesk.query_bool(request, "active"), kinds=zendesk_automations.KINDS, ordering=order)
    return zendesk_automations.paginated_response(request, automations, order)
