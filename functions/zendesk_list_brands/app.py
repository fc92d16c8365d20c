"""GET /api/v2/brands(.json): 200 {"brands"}, the account's one default brand."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_brands


@zendesk.endpoint
def handler(request):
    return zendesk_brands.brands_response(request, services().accounts.brands(request.account_id))
