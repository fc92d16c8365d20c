"""DELETE /api/v2/users/destroy_many(.json)?ids= or ?external_ids=: at most 100; 200 with the queued
job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people, zendesk_tickets


@zendesk.endpoint
def handler(request):
    jobs, email = services().bulk_jobs, request.principal.email
    if (external_ids := zendesk_people.external_ids(request)) is not None:
        job = jobs.delete_users(request.account_id, external_ids, email, by_external_id=True)
    else:
        job = jobs.delete_users(request.account_id, zendesk.query_ids(request), email)
    return zendesk_tickets.job_response(request, job)
