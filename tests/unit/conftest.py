import pytest


@pytest.fixture
def services(aws):
    from automations.bootstrap import services

    return services()


@pytest.fixture
def empty_aws(monkeypatch):
    """moto with nothing created in it, and fake credentials (no template's resources)."""
    from moto import mock_aws
    from support import _FAKE_AWS

    for key, value in _FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield
