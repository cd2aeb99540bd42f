"""./install --root puts qmail-f2b's watchdog and weekly report into cron the host's way, records the
lines in the manifest, and --uninstall takes out exactly them."""

import json
import stat

from tests.support.install import run_install, sha256_of

WATCHDOG = "* * * * * /usr/sbin/qmail-f2b watchdog >/dev/null 2>&1"
REPORT = "0 7 * * 1 /usr/sbin/qmail-f2b report --mail --days 7 >/dev/null 2>&1"


def install(root, tarball):
    result = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes", "--quiet")
    assert result.returncode == 0, result.stderr


def uninstall(root):
    result = run_install("--root", root, "--uninstall", "--quiet")
    assert result.returncode == 0, result.stderr


def test_slackware_root_crontab_gets_our_lines_beside_the_admins_and_loses_only_them(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    crontabs = root / "var/spool/cron/crontabs"
    crontabs.mkdir(parents=True)
    admins = "# root's own jobs\n15 3 * * * /usr/bin/updatedb 1> /dev/null 2>&1\n"
    (crontabs / "root").write_text(admins)
    (crontabs / "root").chmod(0o600)
    install(root, fixture_tarball)
    assert (crontabs / "root").read_text() == admins + f"{WATCHDOG}\n{REPORT}\n"
    assert stat.S_IMODE((crontabs / "root").stat().st_mode) == 0o600
    manifest = json.loads((root / "var/lib/qmail-fail2ban/manifest").read_text())
    assert manifest["hooks"]["var/spool/cron/crontabs/root"] == [WATCHDOG, REPORT]
    install(root, fixture_tarball)
    assert (crontabs / "root").read_text().count("qmail-f2b watchdog") == 1
    uninstall(root)
    assert (crontabs / "root").read_text() == admins


def test_a_host_with_cron_d_and_no_crontabs_gets_a_cron_d_file(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)
    install(root, fixture_tarball)
    cron_file = root / "etc/cron.d/qmail-fail2ban"
    lines = cron_file.read_text().splitlines()
    assert lines[-2:] == [WATCHDOG.replace("* * * * * ", "* * * * * root "),
                          REPORT.replace("0 7 * * 1 ", "0 7 * * 1 root ")]
    assert stat.S_IMODE(cron_file.stat().st_mode) == 0o644
    assert not (root / "var/spool/cron").exists()
    uninstall(root)
    assert not cron_file.exists() and (root / "etc/cron.d").is_dir()
