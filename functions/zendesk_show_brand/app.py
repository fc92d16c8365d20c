"""GET /api/v2/brands/{id}(.json): 200 {"brand"}; 404 RecordNotFound for another id."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_brands


@zendesk.endpoint
def handler(request):
    return zendesk_brands.brand_response(request, services().accounts.brand(request.account_id,
                                                                            zendesk.path_id(request)))
