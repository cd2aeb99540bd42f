"""./install for real on a Slackware-style host (root's crontab in /var/spool/cron/crontabs): the watchdog
and the weekly report go into root's crontab, dcron is told to reread it, and --uninstall takes them out."""

from tests.support.install import REPO, install_command, install_on

CRONTAB = "/var/spool/cron/crontabs/root"
UPDATE = "/var/spool/cron/crontabs/cron.update"


def test_root_crontab_gets_the_jobs_and_dcron_is_told(throwaway, fixture_tarball):
    throwaway.run("mkdir -p /var/spool/cron/crontabs && chmod 700 /var/spool/cron/crontabs", check=True)
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    crontab = throwaway.host.file(CRONTAB)
    assert crontab.mode == 0o600 and crontab.user == "root"
    assert crontab.content_string == ("* * * * * /usr/sbin/qmail-f2b watchdog >/dev/null 2>&1\n"
                                      "0 7 * * 1 /usr/sbin/qmail-f2b report --mail --days 7 >/dev/null 2>&1\n")
    assert throwaway.run(f"cat {UPDATE}", check=True).stdout == "root\n"
    assert not throwaway.host.file("/etc/cron.d/qmail-fail2ban").exists
    # A run that changes nothing leaves crond alone.
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    assert throwaway.run(f"cat {UPDATE}", check=True).stdout == "root\n"
    uninstall = throwaway.run(f"cd {REPO} && {' '.join(install_command('--uninstall', '--quiet'))}")
    assert uninstall.returncode == 0, uninstall.stderr
    assert not crontab.exists
    assert throwaway.run(f"cat {UPDATE}", check=True).stdout == "root\nroot\n"
