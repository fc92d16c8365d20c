"""GET /api/v2/automations/search(.json)?query=: automations by title, offset paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    # without sort_by the order is relevance; usage sorts are not among search's sorts
    order = zendesk_automations.ordering(request, services().automations, zendesk_automations.SEARCH_SORTS) \
        if "sort_by" in request.query else None
    automations = services().automations.search(
        request.account_id, request.query.get("query", ""), active=zendesk.query_bool(request, "active"),
        kinds=zendesk_automations.KINDS, ordering=order)
    return zendesk_automations.paginated_response(request, automations, order, allow_cursor=False)
