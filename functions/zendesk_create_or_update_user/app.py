"""POST /api/v2/users/create_or_update(.json) {"user": {...}}: the user with that external id, else
with that email, updated (200); else a new user (201 and a Location header)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    user, created = services().users.create_or_update(request.account_id, zendesk_people.user_from_body(request))
    return zendesk_people.user_response(request, user, status=201 if created else 200)
