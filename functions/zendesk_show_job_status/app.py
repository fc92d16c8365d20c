"""GET /api/v2/job_statuses/{id}(.json): a bulk ticket job's status, progress and results."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job_id = request.path_params.get("id", "").removesuffix(".json")
    return zendesk_tickets.job_response(request, *services().bulk_jobs.get(request.account_id, job_id))
