"""jail.local, fail2ban.local and sendmail-common.local as rendered from the site configuration,
checked by the real fail2ban: `fail2ban-client -t` must pass for every rendering, and
`fail2ban-client -d` must show the values site.conf gave."""

import ast
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installer.shared.durations import positive_seconds
from installer.shared.errors import InstallerError
from installer.siteconf import render
from installer.siteconf import settings as siteconf

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = siteconf.defaults()


def with_jails(settings, **changes):
    return dataclasses.replace(settings, jails=tuple(dataclasses.replace(jail, **changes) for jail in settings.jails))


def root_with_log_folders(tmp_path, settings):
    """A root where every jail's log folder exists (so none is rendered disabled)."""
    root = tmp_path / "root"
    for jail in settings.jails:
        if jail.logpath:
            (root / jail.logpath.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    return root


def confdir_with(staged, tmp_path, rendered):
    """A copy of the staged /etc/fail2ban with the checkout's filters and actions and the rendered files."""
    confdir = tmp_path / "fail2ban"
    shutil.copytree(staged.confdir, confdir, symlinks=True)
    for folder in ("filter.d", "action.d"):
        for path in (REPO / folder).glob("*"):
            shutil.copy(path, confdir / folder / path.name)
    for relative, data in rendered.items():
        (confdir / relative.removeprefix("etc/fail2ban/")).write_bytes(data)
    return confdir


IN_FRESH_VAR = 'mount -t tmpfs tmpfs /var && for log in $LOGS; do mkdir -p "${log%/*}" && : > "$log"; done && exec "$@"'


def client_with_logs(staged, confdir, logs, *arguments):
    """The staged fail2ban-client, run where /var is a fresh tmpfs holding only these logs.

    jail.local names its logs by absolute paths under /var; a private mount namespace lets
    them exist for the check without touching this host's /var.
    """
    assert not str(confdir).startswith("/var/") and not str(staged.root).startswith("/var/")
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_FRESH_VAR, "sh",
         str(staged.bin("fail2ban-client")), "-c", str(confdir), *arguments],
        env=dict(staged.env, LOGS=" ".join(logs)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, timeout=120)


def fail2ban_test(staged, tmp_path, settings, logs=None):
    """fail2ban-client -t on what settings render, with the logs of the enabled jails (or these)."""
    rendered = render.render(settings, root_with_log_folders(tmp_path, settings))
    confdir = confdir_with(staged, tmp_path, rendered)
    if logs is None:
        logs = [jail.logpath for jail in settings.jails if jail.enabled and jail.logpath]
    return client_with_logs(staged, confdir, logs, "-t")


VARIANTS = {
    "defaults": DEFAULTS,
    "nftables": dataclasses.replace(DEFAULTS, banaction="nftables"),
    "ipset": dataclasses.replace(DEFAULTS, banaction="ipset"),
    "every jail on": with_jails(DEFAULTS, enabled=True),
    "every jail off": with_jails(DEFAULTS, enabled=False),
    "every jail on all ports": with_jails(DEFAULTS, enabled=True, port=()),
    "values changed": dataclasses.replace(
        DEFAULTS, jails=tuple(
            dataclasses.replace(jail, maxretry=3, findtime="1h 30m", bantime="2d", logpath="/var/log/all.log")
            if jail.logpath else dataclasses.replace(jail, bantime="2d") for jail in DEFAULTS.jails),
        ignoreip=("127.0.0.1/8", "::1", "192.0.2.0/24", "2001:db8::1"), maxretry=9, findtime="1d",
        bantime="5w", dest="postmaster@example.org", sender="fail2ban@mail.example.org"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendering_passes_fail2ban_client_test(staged, tmp_path, variant):
    result = fail2ban_test(staged, tmp_path, VARIANTS[variant])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: configuration test is successful" in result.stdout


def test_fail2ban_client_test_fails_when_a_log_is_missing(staged, tmp_path):
    """Why missing logs matter: fail2ban refuses to start a jail without its log."""
    logs = [jail.logpath for jail in DEFAULTS.jails if jail.enabled and jail.logpath and jail.name != "vpopmail"]
    result = fail2ban_test(staged, tmp_path, DEFAULTS, logs=logs)
    assert result.returncode != 0
    assert "Have not found any log file for vpopmail jail" in result.stderr


def test_a_jail_whose_log_folder_is_missing_is_rendered_off_and_fail2ban_still_starts(staged, tmp_path):
    root = root_with_log_folders(tmp_path, DEFAULTS)
    shutil.rmtree(root / "var/www")
    (root / "var/log/maillog").write_text("")
    rendered = render.render(DEFAULTS, root)
    jail_local = rendered[render.JAIL_LOCAL].decode()
    roundcube = jail_local[jail_local.index("[roundcube]"):].split("\n\n")[0]
    assert "enabled = false" in roundcube
    assert "/var/www/htdocs/roundcube/logs does not exist" in jail_local
    to_create = render.missing_jail_logs(DEFAULTS, root)
    assert "/var/log/maillog" not in to_create          # already there
    assert DEFAULTS.jail("roundcube").logpath not in to_create
    assert "/var/log/qmail/smtpd/current" in to_create
    confdir = confdir_with(staged, tmp_path, rendered)
    result = client_with_logs(staged, confdir, to_create + ["/var/log/maillog"], "-t")
    assert result.returncode == 0, result.stdout + result.stderr


def dump(staged, confdir):
    """fail2ban-client -d: the commands the server would get, as Python lists."""
    result = staged.run("fail2ban-client", "-c", confdir, "-d")
    assert result.returncode == 0, result.stderr
    return [ast.literal_eval(line) for line in result.stdout.splitlines() if line.startswith("[")]


def test_fail2ban_reads_the_values_site_conf_gave(staged, tmp_path):
    settings = VARIANTS["values changed"]
    confdir = confdir_with(staged, tmp_path, render.render(settings, root_with_log_folders(tmp_path, settings)))
    commands = dump(staged, confdir)
    assert ["set", "qmail-smtp", "addignoreip", "127.0.0.1/8", "::1", "192.0.2.0/24", "2001:db8::1"] in commands
    assert ["set", "qmail-smtp", "bantime", "2d"] in commands
    assert ["set", "qmail-smtp", "maxretry", 3] in commands
    assert ["set", "custom", "bantime", "2d"] in commands
    whois = [command for command in commands
             if command[:4] == ["multi-set", "vpopmail", "action", "sendmail-whois"]][0][4]
    assert ["dest", "postmaster@example.org"] in whois
    assert ["sender", "fail2ban@mail.example.org"] in whois
    assert ["sendername", "Fail2Ban vpopmail"] in whois
    firewall = [command for command in commands
                if command[:4] == ["multi-set", "vpopmail", "action", "iptables-multiport"]][0][4]
    assert ["port", "25,465,587,110,995,143,993"] in firewall


@pytest.mark.parametrize("settings, longest", [
    (DEFAULTS, "180d"),
    (dataclasses.replace(DEFAULTS, jails=tuple(
        dataclasses.replace(jail, enabled=jail.name != "custom") for jail in DEFAULTS.jails)), "4w"),
    (with_jails(DEFAULTS, enabled=False), "1w"),
    (dataclasses.replace(with_jails(DEFAULTS, bantime="1h"), bantime="30d"), "30d"),
])
def test_dbpurgeage_is_at_least_the_longest_bantime(staged, tmp_path, settings, longest):
    confdir = confdir_with(staged, tmp_path, render.render(settings, root_with_log_folders(tmp_path, settings)))
    commands = dump(staged, confdir)
    purge_age = [command[2] for command in commands if command[:2] == ["set", "dbpurgeage"]][0]
    bantimes = [command[3] for command in commands if command[0] == "set" and command[2:3] == ["bantime"]]
    assert purge_age == longest
    assert all(positive_seconds(purge_age) >= positive_seconds(bantime) for bantime in bantimes)


def with_ipset(root):
    """The root with an executable ipset, as the examples assume."""
    tool = root / "usr/sbin/ipset"
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    return root


def test_the_repo_examples_are_what_the_defaults_render(tmp_path):
    rendered = render.render(DEFAULTS, with_ipset(root_with_log_folders(tmp_path, DEFAULTS)))
    hint = "regenerate with: python3 -m installer.siteconf.render --examples"
    assert (REPO / "jail.local.example").read_bytes() == rendered[render.JAIL_LOCAL], hint
    assert (REPO / "action.d/sendmail-common.local").read_bytes() == rendered[render.SENDMAIL_COMMON_LOCAL], hint


def test_every_jail_but_the_manual_one_mails_beside_its_firewall_action(tmp_path):
    jail_local = render.render(DEFAULTS, root_with_log_folders(tmp_path, DEFAULTS))[render.JAIL_LOCAL].decode()
    assert ('action = iptables-multiport[name=qmail-smtp, port="25", protocol=tcp]\n'
            '         sendmail-whois[name=qmail-smtp, sendername="Fail2Ban qmail-smtp"]\n'
            '         qmail-f2b-wake.py\n'
            '         qmail-f2b-enforce.py\n') in jail_local
    assert ("action = iptables-allports[name=custom, protocol=tcp]\n         qmail-f2b-wake.py\n"
            "         qmail-f2b-enforce.py\n\n") in jail_local
    assert jail_local.count("sendmail-whois[") == len(DEFAULTS.jails) - 1
    assert jail_local.count("qmail-f2b-wake.py") == len(DEFAULTS.jails)
    assert jail_local.count("qmail-f2b-enforce.py") == len(DEFAULTS.jails)


@pytest.mark.parametrize("banaction, multiport, allports", [
    ("iptables", "iptables-multiport", "iptables-allports"),
    ("nftables", "nftables-multiport", "nftables-allports"),
    ("ipset", "iptables-ipset-proto6", "iptables-ipset-proto6-allports"),
])
def test_banaction_picks_the_actions(staged, tmp_path, banaction, multiport, allports):
    settings = dataclasses.replace(DEFAULTS, banaction=banaction)
    jail_local = render.render(settings, root_with_log_folders(tmp_path, settings))[render.JAIL_LOCAL].decode()
    if banaction == "iptables":
        assert f"{multiport}[name=vpopmail," in jail_local and f"{allports}[name=custom," in jail_local
    else:
        # Set-based firewalls get our batched set action; other jails keep fail2ban's own.
        assert f'qmail-f2b-set.py[firewall={banaction}, port="25,465,587,110,995,143,993", protocol=tcp]' in jail_local
        assert f"qmail-f2b-set.py[firewall={banaction}, protocol=tcp]" in jail_local
    assert f"banaction = {multiport}\nbanaction_allports = {allports}\n" in jail_local
    for action in (multiport, allports):
        assert (staged.confdir / "action.d" / f"{action}.conf").is_file()
    assert (staged.confdir / "action.d/qmail-f2b-set.py").is_file()


# banaction = auto probes the tools under the root. The probes list rules only, and run in a
# network namespace of their own all the same.

def root_with_tools(tmp_path, **tools):
    root = tmp_path / "root"
    (root / "usr/sbin").mkdir(parents=True)
    for name, target in tools.items():
        (root / "usr/sbin" / name).symlink_to(target)
    return root


def auto_choice(root):
    code = ("import sys; from installer.siteconf import render\n"
            "try:\n    print(render.resolved_banaction('auto', sys.argv[1]))\n"
            "except render.InstallerError as error:\n    print(error)")
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", code, str(root)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


IPTABLES, NFT, FALSE = shutil.which("iptables"), shutil.which("nft"), shutil.which("false")


@pytest.mark.skipif(not (IPTABLES and NFT), reason="needs iptables and nft")
@pytest.mark.parametrize("tools, chosen", [
    ({"iptables": IPTABLES, "nft": NFT}, "iptables"),
    ({"iptables": IPTABLES}, "iptables"),
    ({"nft": NFT}, "nftables"),
    ({"iptables": FALSE, "nft": NFT}, "nftables"),   # an iptables that cannot work here
    ({"iptables": IPTABLES, "nft": FALSE}, "iptables"),
])
def test_auto_uses_the_firewall_that_works(tmp_path, tools, chosen):
    assert auto_choice(root_with_tools(tmp_path, **tools)) == chosen


def test_auto_without_a_working_firewall_is_one_clear_error(tmp_path):
    message = auto_choice(root_with_tools(tmp_path, iptables=FALSE))
    assert message.startswith("banaction = auto: neither `iptables -S` nor `nft list ruleset` works")
    with pytest.raises(InstallerError):
        render.render(dataclasses.replace(DEFAULTS, banaction="auto"), tmp_path / "empty")


def test_banaction_iptables_matches_ipsets_wherever_ipset_is_installed(tmp_path):
    root = with_ipset(root_with_log_folders(tmp_path, DEFAULTS))
    jail_local = render.render(DEFAULTS, root)[render.JAIL_LOCAL].decode()
    assert 'action = qmail-f2b-set.py[firewall=ipset, port="25", protocol=tcp]\n' in jail_local
    assert "iptables-multiport[" not in jail_local.split("[qmail-smtp]")[1]
    # Where the admin reads it, it still says iptables.
    assert "# site.conf: banaction = iptables. With ipset installed" in jail_local
    note = "# banaction iptables: one iptables rule per family matching an ipset set"
    assert jail_local.count(note) == len(DEFAULTS.jails)
    assert "banaction = iptables-multiport\n" in jail_local
