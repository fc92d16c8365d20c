"""GET /api/v2/ticket_audits(.json): every audit of the account, newest first, cursor paginated."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    return zendesk_tickets.account_audits_response(request, services().tickets)
