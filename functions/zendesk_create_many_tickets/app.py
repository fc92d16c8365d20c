"""POST /api/v2/tickets/create_many(.json) {"tickets": [...]}: at most 100; 200 with the queued job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job = services().bulk_jobs.create_many(request.account_id, zendesk_tickets.tickets_from_body(request),
                                             request.principal.email)
    return zendesk_tickets.job_response(request, job)
