"""DELETE /api/v2/automations/destroy_many(.json)?ids=1,2,3: 204."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_automations


@zendesk.endpoint
def handler(request):
    services().automations.delete_many(request.account_id, zendesk.query_ids(request), kinds=zendesk_automations.KINDS)
    return zendesk.no_content()
