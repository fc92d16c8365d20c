import pytest
from support import mocked_aws


@pytest.fixture
def aws():
    with mocked_aws() as template:
        yield template


@pytest.fixture
def services(aws):
    from automations.bootstrap import services

    return services()
