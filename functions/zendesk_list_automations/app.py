"""GET /api/v2/automations(.json): every automation, offset or cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    sort_by, sort_order = zendesk.list_sort(request)
    automations = services().automations.list(
        request.account_id, active=zendesk.query_bool(request, "active"), kinds=zendesk.KINDS,
        sort_by=sort_by, sort_order=sort_order)
    return zendesk.paginated_response(request, automations, sort_by, sort_order)
