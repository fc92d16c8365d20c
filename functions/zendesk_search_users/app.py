"""GET /api/v2/users/search(.json)?query=<email>: the user with that email, if any."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    email = zendesk_people.searched_email(request)
    user = services().users.find_by_email(request.account_id, email) if email else None
    return zendesk_people.users_response(request, [user] if user else [])
