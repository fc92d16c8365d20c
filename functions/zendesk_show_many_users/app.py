"""GET /api/v2/users/show_many(.json)?ids=1,2: the users among the ids (at most 100)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    return zendesk_people.users_response(request, services().users.get_many(request.account_id,
                                                                           zendesk.query_ids(request)))
