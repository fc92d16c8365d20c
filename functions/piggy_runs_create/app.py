"""POST /api/v3/oauth/clients/automations/runs: run a contact_updated automation for a contact,
with optional data for its templates; JSON or form-encoded; ``Idempotency-Key`` honoured."""
from automations.bootstrap import services
from automations.surfaces import piggy


@piggy.endpoint
def _create_run(request):
    return piggy.create_run(
        request, find=lambda account_id, uuid: services().automations.find_by_uuid(account_id, uuid, kinds=piggy.KINDS),
        start=lambda *args, **kwargs: services().run_launcher.start_manual(*args, **kwargs))


def handler(event, context):
    piggy.register_lambda_context(context)
    return _create_run(event, context)
