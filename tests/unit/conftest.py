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


@pytest.fixture
def moving():
    """The run engine tests' clock: frozen at simulator.T0, moved by the tests."""
    from automations import clock
    from simulator import T0

    previous = clock.get_clock()
    moving = clock.MovableClock(T0, frozen=True)
    clock.set_clock(moving)
    yield moving
    clock.set_clock(previous)


@pytest.fixture
def env(services, moving, aws):
    """The shared simulator of queues and schedules around the run engine (a module with an
    ``env`` of its own, as the sweep's, overrides it)."""
    from simulator import RunSimulator

    return RunSimulator(services, moving, aws)
