"""GET /api/v2/automations/search(.json)?query=: automations by title, offset paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    sort_by = request.query.get("sort_by")
    if sort_by is not None:
        sort_by, _ = zendesk.list_sort(request, zendesk.SEARCH_SORTS)
    sort_order = request.query.get("sort_order")
    automations = services().automations.search(
        request.account_id, request.query.get("query", ""), active=zendesk.query_bool(request, "active"),
        kinds=zendesk.KINDS, sort_by=sort_by, sort_order=sort_order)
    return zendesk.paginated_response(request, automations, sort_by or "position", sort_order, allow_cursor=False)
