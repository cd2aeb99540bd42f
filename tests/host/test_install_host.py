"""./install as root onto a throwaway copy of this host: what lands, re-runs, the .new rule, uninstall."""


from tests.support.install import REPO, install_command, install_on
from tests.support.throwaway import changed_paths, merged_state
from tests.support.treestate import paths_state


def changes(host):
    """The throwaway's changed paths and their state there."""
    paths = changed_paths(host)
    return merged_state(host, paths)


def test_real_install_lands_where_an_admin_expects(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    host = throwaway.host
    for config in ("/etc/fail2ban/jail.conf", "/etc/fail2ban/jail.local", "/etc/fail2ban/filter.d/sshd.conf",
                   "/etc/logrotate.d/fail2ban", "/etc/qmail-fail2ban/site.conf"):
        checked = host.file(config)
        assert checked.is_file and checked.user == "root" and checked.mode == 0o644, config
    rc_script = host.file("/etc/rc.d/rc.fail2ban")
    assert rc_script.is_file and rc_script.mode == 0o755 and rc_script.user == "root"
    assert host.file("/etc/rc.d/rc.local").contains("/etc/rc.d/rc.fail2ban start")
    assert host.file("/etc/rc.d/rc.local").mode == 0o755
    assert host.file("/etc/rc.d/rc.local_shutdown").contains("/etc/rc.d/rc.fail2ban stop")
    version = host.run("/usr/bin/fail2ban-client -V")
    assert version.rc == 0 and version.stdout.strip().endswith("1.0.2")
    assert host.run("/usr/bin/fail2ban-client -t").rc == 0


def test_second_run_changes_nothing(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    first = changes(throwaway)
    again = install_on(throwaway, fixture_tarball, "--yes")
    assert "Nothing to do" in again.stdout
    assert changes(throwaway) == first


def test_edited_jail_local_is_kept_and_uninstall_restores_the_host(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    throwaway.run("echo '# tuned by the admin' >> /etc/fail2ban/jail.local", check=True)
    rerun = install_on(throwaway, fixture_tarball, "--yes")
    assert "/etc/fail2ban/jail.local.new" in rerun.stdout
    assert throwaway.host.file("/etc/fail2ban/jail.local").contains("tuned by the admin")
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    assert throwaway.run("grep -c rc.fail2ban /etc/rc.d/rc.local").stdout.strip() == "1"
    uninstall = throwaway.run(f"cd {REPO} && {' '.join(install_command('--uninstall'))}")
    assert uninstall.returncode == 0, uninstall.stderr
    assert "Kept /etc/fail2ban/jail.local" in uninstall.stdout
    after = changes(throwaway)
    for admins in ("/etc/fail2ban", "/etc/fail2ban/jail.local"):
        assert after.pop(admins) is not None
    assert after == paths_state(after)        # every other touched path is as on the untouched host
    assert throwaway.host.file("/etc/rc.d/rc.local").exists is False


def test_bad_tarball_on_a_real_host_changes_nothing(throwaway, fixture_tarball):
    command = " ".join(install_command("--tarball", fixture_tarball, "--sha256", "f" * 64, "--yes"))
    result = throwaway.run(f"cd {REPO} && {command}")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "sha256 mismatch" in result.stderr
    touched = changes(throwaway)
    assert touched == paths_state(touched)


def test_uninstall_stops_a_running_server_first(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    throwaway.run("/etc/rc.d/rc.fail2ban start", check=True)
    assert throwaway.run("pgrep -x fail2ban-server").returncode == 0
    uninstall = throwaway.run(f"cd {REPO} && {' '.join(install_command('--uninstall', '--quiet'))}")
    assert uninstall.returncode == 0, uninstall.stderr
    assert throwaway.run("pgrep -x fail2ban-server").returncode != 0
    assert not throwaway.host.file("/usr/bin/fail2ban-client").exists


def test_boot_hooks_start_and_stop_fail2ban_and_chmod_disables_them(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    throwaway.run("/etc/rc.d/rc.local", check=True)
    assert throwaway.run("fail2ban-client ping").stdout.strip().endswith("pong")
    throwaway.run("/etc/rc.d/rc.local_shutdown", check=True)
    assert throwaway.run("pgrep -x fail2ban-server").returncode != 0
    throwaway.run("chmod -x /etc/rc.d/rc.fail2ban && /etc/rc.d/rc.local", check=True)
    assert throwaway.run("pgrep -x fail2ban-server").returncode != 0
