"""zenpy, Zendesk's Python client, against the local runtime in the end-to-end tests."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from zenpy import Zenpy


def zenpy_for_a_new_account(local_runtime, monkeypatch, name: str) -> tuple[Zenpy, dict[str, Any]]:
    """A zenpy client for a fresh account named ``name``, pointed at the local runtime the
    documented way (ZENPY_FORCE_NETLOC and ZENPY_FORCE_SCHEME); and the account (email, api_key)."""
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", urlsplit(local_runtime.base_url).netloc)
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    account = local_runtime.create_account(name)
    return Zenpy(subdomain="acme", email=account["email"], token=account["api_key"], disable_cache=True), account
