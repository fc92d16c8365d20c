"""The authorizer's own cache (API Gateway's is off, see docs/deploying.md "AuthCacheSeconds"): accepted
credentials kept per Authorization header for AUTH_CACHE_SECONDS, counted as hits and misses; a
revoked key works at most that long. A refusal is never kept: a key just created works at once."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from support import basic_auth
from test_telemetry import emitted, metric

from automations import clock
from automations.surfaces import authorizer


@pytest.fixture
def moving():
    previous = clock.get_clock()
    moving = clock.MovableClock(datetime(2030, 1, 1, tzinfo=timezone.utc), frozen=True)
    clock.set_clock(moving)
    yield moving
    clock.set_clock(previous)


def test_answers_are_cached_per_header_for_auth_cache_seconds(services, moving, monkeypatch, capsys):
    monkeypatch.setenv("AUTH_CACHE_SECONDS", "30")
    account, key = services.accounts.create_account("Acme", "owner@acme.test")
    good, wrong = basic_auth("owner@acme.test", key), basic_auth("owner@acme.test", "not-the-key")
    lookups = []
    authenticate = services.accounts.authenticate
    monkeypatch.setattr(services.accounts, "authenticate", lambda *a: lookups.append(a) or authenticate(*a))

    assert authorizer.resolve(good).account_id == account.id
    assert authorizer.resolve(good).account_id == account.id
    assert authorizer.resolve(wrong) is None and authorizer.resolve(wrong) is None
    assert len(lookups) == 3  # the good header once; the wrong key's refusal is looked up each time
    documents = emitted(capsys.readouterr().out)
    assert len(metric(documents, "AuthCacheMisses")) == 3 and len(metric(documents, "AuthCacheHits")) == 1

    services.accounts.revoke_key(authorizer.resolve(good).key_id)
    moving.advance(29)
    assert authorizer.resolve(good) is not None  # revocation takes at most AUTH_CACHE_SECONDS
    moving.advance(2)
    assert authorizer.resolve(good) is None


def test_a_key_just_created_works_at_once_whatever_was_refused_before(services, moving, monkeypatch):
    """A client retrying with a key an administrator is creating right now: the refusals before
    the key exists are not kept, so the first request after it does is let in."""
    monkeypatch.setenv("AUTH_CACHE_SECONDS", "300")
    account, _ = services.accounts.create_account("Acme", "owner@acme.test")
    key = "k" * 40
    forms = [f"Bearer {key}", basic_auth("owner@acme.test", key), basic_auth("owner@acme.test", key, token_style=False)]
    assert [authorizer.resolve(header) for header in forms] == [None, None, None]
    services.accounts.create_key(account.id, key)
    assert [authorizer.resolve(header).account_id for header in forms] == [account.id] * 3


def test_a_cached_answer_is_the_uncached_answer_for_the_same_header(services, moving, monkeypatch):
    """Each credential form alone on a cold cache, then all of them in turn on a warm one (in both
    orders, so each meets the others' entries): the answers are the same."""
    monkeypatch.setenv("AUTH_CACHE_SECONDS", "30")
    account, key = services.accounts.create_account("Acme", "owner@acme.test")
    forms = [f"Bearer {key}", basic_auth("owner@acme.test", key), basic_auth("owner@acme.test", key, token_style=False),
             basic_auth("", key), basic_auth("", key, token_style=False), basic_auth("other@acme.test", key),
             basic_auth("OWNER@acme.test", key), f"bearer {key}", f"Bearer {key}x", basic_auth("owner@acme.test", "x")]

    def answer(header):
        principal = authorizer.resolve(header)
        return principal and (principal.account_id, principal.key_id)

    cold = {}
    for header in forms:
        authorizer.forget_cached()
        cold[header] = answer(header)
    assert cold[forms[0]] == cold[forms[1]] == (account.id, authorizer.resolve(forms[0]).key_id)
    assert cold[basic_auth("", key)] is None  # Basic with no email is refused, whatever is cached
    for order in (forms, forms[::-1]):
        authorizer.forget_cached()
        for _ in range(2):  # the first pass fills the cache, the second reads it
            assert {header: answer(header) for header in order} == cold
