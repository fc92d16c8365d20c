"""PUT /api/v2/users/update_many(.json): ``?ids=`` or ``?external_ids=`` with {"user": {...}} (one
change to each), or {"users": [{"id" or "external_id", ...}]}; at most 100; 200 with the queued job
status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people, zendesk_tickets


@zendesk.endpoint
def handler(request):
    jobs, email, body = services().bulk_jobs, request.principal.email, request.json()
    if isinstance(body, dict) and "users" in body:
        job = jobs.update_users(request.account_id, zendesk_people.users_from_body(request), email)
    elif (external_ids := zendesk_people.external_ids(request)) is not None:
        job = jobs.update_each_user(request.account_id, external_ids, zendesk_people.user_from_body(request), email,
                                    by_external_id=True)
    else:
        job = jobs.update_each_user(request.account_id, zendesk.query_ids(request),
                                    zendesk_people.user_from_body(request), email)
    return zendesk_tickets.job_response(request, job)
