import pytest
from support import basic_auth


@pytest.fixture
def account(aws):
    """A fresh account and a Zendesk-style Authorization header for it."""
    from automations.bootstrap import services

    acct, key = services().accounts.create_account("Acme Support", "owner@acme.test", "Europe/Amsterdam")
    return acct, key, basic_auth(acct.email, key)
