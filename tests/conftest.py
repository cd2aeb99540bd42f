"""The fixtures every test folder shares; what they are made of lives in tests/support."""

import pytest

from tests.support import install
from tests.support.throwaway import Throwaway


@pytest.fixture(scope="session")
def fixture_tarball():
    return install.fixture_tarball()


@pytest.fixture(scope="session")
def pyinotify_tarball():
    return install.pyinotify_tarball()


@pytest.fixture(scope="session")
def staged(tmp_path_factory, fixture_tarball):
    return install.stage_install(tmp_path_factory.mktemp("staged") / "root", fixture_tarball)


@pytest.fixture
def throwaway():
    with Throwaway() as host:
        yield host


@pytest.fixture(scope="module")
def installed_host(fixture_tarball):
    """A throwaway host where ./install --yes ran for real, as root onto its /."""
    with Throwaway() as host:
        install.install_on(host, fixture_tarball, "--yes", "--quiet")
        yield host
