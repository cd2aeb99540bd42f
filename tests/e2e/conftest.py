"""The end-to-end suite's fixture: one mail server and one attacker per test module."""

import pytest

from tests.support.mailhost import MailHost, missing_parts
from tests.support.throwaway import Throwaway


@pytest.fixture(scope="module")
def mailhost(fixture_tarball):
    missing = missing_parts()
    if missing:
        pytest.fail(f"the end-to-end mail server needs: {'; '.join(missing)}", pytrace=False)
    with Throwaway() as throwaway:
        server = MailHost(throwaway)
        server.bring_up(fixture_tarball)
        yield server
