"""DELETE /api/v2/deleted_tickets/destroy_many(.json)?ids=1,2: those deleted tickets and their
audits, for good, as a job (at most 100); 200 with its queued job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job = services().bulk_jobs.purge_many(request.account_id, zendesk.query_ids(request), request.principal.email)
    return zendesk_tickets.job_response(request, job)
