"""The fleet's packages on a Debian host that lacks them: ./install installs crowdsec and
crowdsec-firewall-bouncer with apt-get (offline: CrowdSec's Central API is told no first), the lapi
host then serves, a second run installs nothing, and --uninstall purges them: the host has neither the
packages nor their folders again. apt-get reads a repository of the two .deb files that ./run-tests
downloaded (tests/.cache/debs), the only source the throwaway knows: it has no network."""

import shlex
import subprocess

import pytest

from tests.support.install import CACHE, REPO, install_command, install_on
from tests.support.mailhost import LOG_FOLDERS
from tests.support.throwaway import Throwaway

PACKAGES = ("crowdsec", "crowdsec-firewall-bouncer")
DEBS = CACHE / "debs"
CREDENTIALS = "/etc/qmail-fail2ban/fleet"
SITE_CONF = """\
[fleet]
role = lapi
name = mail-a
lapi_url = http://127.0.0.1:8080
"""
# What a host without CrowdSec has not: the packages' own folders.
THEIRS = ("/etc/crowdsec", "/var/lib/crowdsec", "/usr/bin/crowdsec", "/usr/bin/cscli",
          "/usr/bin/crowdsec-firewall-bouncer")


def local_repository():
    """A flat apt repository of the two packages, made once from the .deb files run-tests saved."""
    debs = sorted(DEBS.glob("*.deb"))
    if {path.name.split("_")[0] for path in debs} != set(PACKAGES):
        pytest.skip(f"no .deb files of {', '.join(PACKAGES)} in {DEBS} (./run-tests downloads them)")
    if not (DEBS / "Packages").exists():
        listing = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=DEBS, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, check=True).stdout
        (DEBS / "Packages").write_text(listing)
    return DEBS


def present(host):
    return [path for path in THEIRS if host.run(f"test -e {path}").returncode == 0]


@pytest.fixture
def bare_debian_host():
    """A throwaway host as Debian without CrowdSec, whose apt knows only the local repository."""
    repository = local_repository()
    with Throwaway() as host:
        host.run(f"""set -e
dpkg --purge {' '.join(PACKAGES)} >/dev/null 2>&1 || true
rm -rf /etc/crowdsec /var/lib/crowdsec
rm -f /etc/apt/sources.list && rm -rf /etc/apt/sources.list.d && mkdir /etc/apt/sources.list.d
echo 'deb [trusted=yes] file:{repository} ./' > /etc/apt/sources.list.d/local.list
apt-get update -qq -o Dir::Etc::sourceparts=/etc/apt/sources.list.d
mkdir -p {' '.join(LOG_FOLDERS)} {CREDENTIALS} && chmod 700 {CREDENTIALS}
echo mail-a-machine-password-0123456789 > {CREDENTIALS}/mail-a.password
echo mail-a-bouncer-key-0123456789abcdef > {CREDENTIALS}/mail-a.bouncer-key
chmod 600 {CREDENTIALS}/*
cat > /root/site.conf <<'EOF'
{SITE_CONF}EOF""", check=True, timeout=120)
        assert present(host) == []
        yield host


def test_install_puts_the_packages_in_and_uninstall_takes_them_out(bare_debian_host, fixture_tarball):
    host = bare_debian_host
    first = install_on(host, fixture_tarball, "--yes", "--config", "/root/site.conf", timeout=600)
    assert "Installed with apt-get: crowdsec, crowdsec-firewall-bouncer" in first.stdout
    assert host.run("cat /etc/crowdsec/online_api_credentials.yaml").stdout == "# no thanks\n"
    for package in PACKAGES:
        assert host.run(f"dpkg-query -W -f '${{Status}}' {package}").stdout == "install ok installed"
    assert "Registered with the fleet's Local API: machine mail-a, bouncer mail-a." in first.stdout

    host.run("/etc/rc.d/rc.qmail-f2b-fleet start", check=True, timeout=60)
    doctor = host.run("for i in $(seq 50); do /usr/sbin/qmail-f2b doctor | grep -q 'bouncer enforces the fleet'"
                      " && break; sleep 0.2; done; /usr/sbin/qmail-f2b doctor | grep fleet", timeout=120).stdout
    assert "OK    fleet: the Local API at http://127.0.0.1:8080 takes mail-a's password and bouncer key" in doctor

    again = install_on(host, fixture_tarball, "--yes", "--config", "/root/site.conf", timeout=600)
    assert "Nothing to do:" in again.stdout and "apt-get" not in again.stdout

    removed = host.run(f"cd {REPO} && {shlex.join(install_command('--uninstall'))}", timeout=300)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for package in PACKAGES:
        assert host.run(f"dpkg-query -W -f '${{Status}}' {package}").stdout in ("", "unknown ok not-installed")
    assert present(host) == []


def test_without_apt_get_the_missing_packages_are_one_line_and_nothing_changes(bare_debian_host, fixture_tarball):
    host = bare_debian_host
    host.run("mv /usr/bin/apt-get /usr/bin/apt-get.away", check=True)
    command = install_command("--yes", "--config", "/root/site.conf", "--tarball", fixture_tarball)
    result = host.run(f"cd {REPO} && {shlex.join(command)}", timeout=300)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "[fleet] role lapi needs crowdsec, crowdsec-firewall-bouncer" in (
        result.stderr)
    assert host.run("test -e /etc/fail2ban/jail.local").returncode != 0
