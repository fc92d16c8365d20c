"""GET /api/v2/automations(.json): every automation, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    order = zendesk.ordering(request, services().automations)
    automations = services().automations.list(
        request.account_id, active=zendesk.query_bool(request, "active"), kinds=zendesk.KINDS, ordering=order)
    return zendesk.paginated_response(request, automations, order)
