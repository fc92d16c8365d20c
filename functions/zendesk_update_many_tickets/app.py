"""PUT /api/v2/tickets/update_many(.json): ``?ids=1,2`` with {"ticket": {...}} (one change to each),
or {"tickets": [{"id", ...}]}; at most 100; 200 with the queued job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_tickets


@zendesk.endpoint
def handler(request):
    jobs, email = services().bulk_jobs, request.principal.email
    if "ids" in request.query:
        job = jobs.update_each(request.account_id, zendesk.query_ids(request),
                               zendesk_tickets.ticket_object(request), email)
    else:
        job = jobs.update_many(request.account_id, zendesk_tickets.tickets_from_body(request), email)
    return zendesk_tickets.job_response(request, job)
