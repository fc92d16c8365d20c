"""DELETE /api/v2/tickets/destroy_many(.json)?ids=1,2: at most 100; 200 with the queued job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job = services().bulk_jobs.delete_many(request.account_id, zendesk.query_ids(request), request.principal.email)
    return zendesk_tickets.job_response(request, job)
