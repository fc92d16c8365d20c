import pytest
from races import all_at_once

from automations.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from automations.service.accounts import hash_key
from automations.surfaces.authorizer import parse_authorization


def scan_all(aws):
    import boto3

    return boto3.client("dynamodb").scan(TableName=aws.physical_name("Table"))["Items"]


def test_keys_are_stored_only_as_hashes(aws, services):
    account, key = services.accounts.create_account("Acme", "Owner@Acme.test", "America/New_York")
    assert account.email == "owner@acme.test" and account.timezone == "America/New_York"
    dump = repr(scan_all(aws))
    assert key not in dump and hash_key(key) in dump
    assert len(key) == 40 and key.isalnum()


def test_authenticate(services):
    account, key = services.accounts.create_account("Acme", "owner@acme.test")
    assert services.accounts.authenticate(key).account_id == account.id
    assert services.accounts.authenticate(key, "OWNER@acme.test").account_id == account.id
    for bad in [(key, "someone@else.test"), (key[:-1], None), ("", None)]:
        with pytest.raises(Unauthenticated):
            services.accounts.authenticate(*bad)


def test_revoke(services):
    account, _ = services.accounts.create_account("Acme", "owner@acme.test")
    key_id, key = services.accounts.create_key(account.id)
    services.accounts.revoke_key(key_id)
    with pytest.raises(Unauthenticated):
        services.accounts.authenticate(key)
    with pytest.raises(NotFound):
        services.accounts.revoke_key("key_unknown")
    with pytest.raises(NotFound):
        services.accounts.create_key("acc_missing")


def test_an_accounts_keys_are_listed_by_id_never_the_keys(services):
    account, first = services.accounts.create_account("Acme", "owner@acme.test")
    other, _ = services.accounts.create_account("Other", "owner@other.test")
    first_id = services.accounts.key_record(first).key_id
    second_id, second = services.accounts.create_key(account.id)
    services.accounts.revoke_key(first_id)
    listed = services.accounts.list_keys(account.id)
    assert [(k.key_id, k.revoked) for k in listed] == [(first_id, True), (second_id, False)]  # oldest first
    assert all(k.account_id == account.id for k in listed)  # not the other account's
    assert first not in repr(listed) and second not in repr(listed)
    assert len(services.accounts.list_keys(other.id)) == 1
    with pytest.raises(NotFound):
        services.accounts.list_keys("acc_unknown")


@pytest.mark.parametrize("name, email, tz, field", [
    ("", "a@b.test", "UTC", "name"), ("A", "not-an-email", "UTC", "email"), ("A", "a@b.test", "Mars/Base", "timezone"),
    ("A", "a..b@acme.test", "UTC", "email"), ("A", "jäne@acme.test", "UTC", "email"),  # as a user's email is checked
])
def test_account_validation(services, name, email, tz, field):
    with pytest.raises(ValidationFailed) as e:
        services.accounts.create_account(name, email, tz)
    assert [x.field for x in e.value.errors] == [field]


def test_one_account_per_owner_email_even_concurrently(services):
    outcomes = all_at_once(lambda: services.accounts.create_account("Acme", "race@acme.test"), 6)
    assert sum(not isinstance(o, Conflict) for o in outcomes) == 1


def test_ensure_account_is_idempotent_and_takes_the_given_key(services):
    first, key = services.accounts.ensure_account("Development", "dev@example.com", "k" * 40)
    again, same = services.accounts.ensure_account("Development", "dev@example.com", "k" * 40)
    assert first.id == again.id and key == same == "k" * 40
    assert services.accounts.authenticate(key, "dev@example.com").account_id == first.id
    other, _ = services.accounts.create_account("Other", "other@example.com")
    with pytest.raises(Conflict):
        services.accounts.ensure_account("Other", "other@example.com", "k" * 40)
    _, generated = services.accounts.ensure_account("Development", "dev@example.com")
    assert generated != key and services.accounts.authenticate(generated).account_id == first.id


def test_every_account_starts_with_the_default_close_rule(services):
    account, _ = services.accounts.create_account("Acme", "owner@acme.test")
    [rule] = services.automations.list(account.id)
    assert rule.default and rule.title == "Close ticket 4 days after status is set to solved"


@pytest.mark.parametrize("header, expected", [
    ("Basic YUBiLmMvdG9rZW46S0VZ", ("a@b.c", "KEY")),          # a@b.c/token:KEY
    ("Basic YUBiLmM6S0VZ", ("a@b.c", "KEY")),                  # a@b.c:KEY
    ("basic YUBiLmM6S0VZOndpdGg6Y29sb25z", ("a@b.c", "KEY:with:colons")),
    ("Bearer KEY", (None, "KEY")),
    ("Bearer   KEY  ", (None, "KEY")),
    ("Basic YUBiLmM6", None),                                   # no key
    ("Basic OktFWQ==", None),                                   # no user
    ("Basic ///", None),
    ("Basic //8=", None),                                       # not UTF-8
    ("Digest abc", None), ("", None), (None, None), ("Bearer", None),
])
def test_parse_authorization(header, expected):
    assert parse_authorization(header) == expected


def test_the_key_lookup_reads_consistently_since_it_decides(aws, services):
    """An eventually consistent GetItem may miss a key created a moment ago (or still show one
    revoked): every lookup of a key by its hash decides, so each reads the table consistently."""
    import boto3

    from automations.adapters.dynamo import DynamoAccountStore

    account, key = services.accounts.create_account("Acme", "owner@acme.test")
    client = boto3.client("dynamodb")
    sent = []
    client.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: sent.append(dict(params)))
    store = DynamoAccountStore(client, aws.physical_name("Table"))
    assert store.get_key(hash_key(key)).account_id == account.id
    assert store.get_key(hash_key("not-a-key")) is None
    assert [params.get("ConsistentRead") for params in sent] == [True, True]
