"""The host tests' shared throwaway mail host: one per test module, put back as installed before each
test, so that no test depends on what the one before it did."""

import pytest

from tests.support.mailhost import back_as_installed, installed_mail_host


@pytest.fixture(scope="module")
def mail_host(fixture_tarball):
    with installed_mail_host(fixture_tarball) as host:
        yield host


@pytest.fixture
def host(mail_host):
    """The module's mail host as installed: fail2ban running, nothing banned, empty logs."""
    back_as_installed(mail_host)
    return mail_host
