"""POST /api/v2/users/create_or_update_many(.json) {"users": [...]}: at most 100, each updating the
user with its external_id, else its email, or created; 200 with the queued job status."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people, zendesk_tickets


@zendesk.endpoint
def handler(request):
    job = services().bulk_jobs.create_or_update_users(request.account_id, zendesk_people.users_from_body(request),
                                                      request.principal.email)
    return zendesk_tickets.job_response(request, job)
