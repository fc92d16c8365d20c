"""GET /api/v3/oauth/clients/automations: the account's Piggy automations (event automations on
one of Piggy's events), in Piggy's envelope."""
from automations.bootstrap import services
from automations.surfaces import piggy


@piggy.endpoint
def handler(request):
    automations = services().automations.list(request.account_id, kinds=piggy.KINDS)
    return piggy.envelope([piggy.automation_out(a) for a in automations if piggy.is_piggy_automation(a)])
