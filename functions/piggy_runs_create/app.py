"""POST /api/v3/oauth/clients/automations/runs: run a contact_updated automation for a contact,
with optional data for its templates; JSON or form-encoded; ``Idempotency-Key`` honoured."""
from automations.bootstrap import services
from automations.errors import NotFound
from automations.surfaces import piggy


@piggy.endpoint
def _create_run(request):
    run = piggy.read_run_request(request)
    key = piggy.idempotency_key(request)
    account_id = request.account_id

    def start() -> dict:
        automation = piggy.runnable_automation(
            lambda: services().automations.find_by_uuid(account_id, run.automation_uuid, kinds=piggy.KINDS))
        try:
            services().run_engine.start_manual(account_id, automation, run.contact_uuid, data=run.data,
                                               occurrence=piggy.occurrence(request, key))
        except NotFound:
            raise piggy.PiggyError(piggy.CONTACT_NOT_FOUND) from None
        return piggy.envelope([])

    return piggy.once_per_key(account_id, key, run, start)


def handler(event, context):
    piggy.register_lambda_context(context)
    return _create_run(event, context)
