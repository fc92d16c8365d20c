"""DELETE /api/v2/deleted_tickets/{id}(.json): the deleted ticket and its audits, for good, as a
job; 200 with its queued job status (404 when the ticket is not among the deleted tickets)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job = services().bulk_jobs.purge_many(request.account_id, [zendesk.path_id(request)], request.principal.email,
                                            must_exist=True)
    return zendesk_tickets.job_response(request, job)
