"""GET /api/v2/job_statuses/show_many(.json)?ids=a,b: those of the job statuses that exist."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    found = services().bulk_jobs.get_many(request.account_id, zendesk_tickets.job_id_list(request))
    return zendesk_tickets.jobs_response(request, found)
