"""Where things are on a host: each path once, absolute as the admin reads it.

Code that works on a staged root joins a path to it with `under(root, path)`.
"""

from pathlib import Path

SITE_FOLDER = "/etc/qmail-fail2ban"
SITE_CONF = f"{SITE_FOLDER}/site.conf"
# The admin's override of fail2ban.local, copied in by rc.fail2ban at every start and reload (doctor
# points to it; the jail override beside it, fail2ban-jail.cf, is rc.fail2ban's alone).
SERVER_OVERRIDE = f"{SITE_FOLDER}/fail2ban-fail2ban.cf"

# Release tarballs, and the unpacked source of what is installed.
SOURCE_DIR = "/usr/local/src"
STATE_DIR = "/var/lib/qmail-fail2ban"
MANIFEST = f"{STATE_DIR}/manifest"
# One run at a time: ./install and --uninstall hold this (fcntl.flock) from start to end.
LOCK = f"{STATE_DIR}/lock"
# How to undo each change a run makes, written before the change, so the next run can undo a killed one;
# with copies of the files it replaces (not in /tmp, which a reboot may empty) and its build folder.
JOURNAL = f"{STATE_DIR}/journal"
UNDO_DIR = f"{STATE_DIR}/undo"
WORK_DIR = f"{STATE_DIR}/work"
# The one release kept for ./install --rollback: its files as they were, its manifest and its database.
PREVIOUS_DIR = f"{STATE_DIR}/previous"
# What a server served before a switch that is under way (see installer/pipeline/upgrade.py).
SWITCHING = f"{STATE_DIR}/switching"

# qmail-f2b and the package it runs, so the tool works after the checkout is gone.
TOOL = "/usr/sbin/qmail-f2b"
TOOL_LIBRARY = "/usr/lib/qmail-fail2ban"

RC_SCRIPT = "/etc/rc.d/rc.fail2ban"
LOGROTATE_SCRIPT = "/etc/logrotate.d/fail2ban"

# fail2ban as its setup.py installs it with --prefix=/usr.
PREFIX = "/usr"
BIN_DIR = f"{PREFIX}/bin"
CLIENT = f"{BIN_DIR}/fail2ban-client"
SERVER = f"{BIN_DIR}/fail2ban-server"
REGEX = f"{BIN_DIR}/fail2ban-regex"
CONFIG_DIR = "/etc/fail2ban"
FAIL2BAN_LOG = "/var/log/fail2ban.log"


def under(root, path):
    """path (absolute or relative) as it lies under root."""
    return Path(root) / str(path).lstrip("/")


def relative(path):
    """path as the manifest and the payload write it: relative to the root, no leading slash."""
    return str(path).lstrip("/")


def is_host_root(root):
    """Whether root is this host's own / rather than a staging folder."""
    return Path(root).resolve() == Path("/")


# The folder this package lies in: a checkout (with rc.d/, filter.d/ ... beside it) or a site folder.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]

# Where the admin's mail goes: the sendmail interface of qmail (or any MTA), as fail2ban's
# sendmail actions call it.
SENDMAIL = "/usr/sbin/sendmail"
# fail2ban's database where its configuration names none (fail2ban.conf's default).
FAIL2BAN_DB = "/var/lib/fail2ban/fail2ban.sqlite3"
# qmail-f2b's metrics for node_exporter's textfile collector: Debian's default folder, and the file.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE_NAME = "qmail_f2b.prom"
# The textfile folder the admin chose with `qmail-f2b metrics --textfile DIR`, which the watchdog refreshes.
TEXTFILE_CHOICE = f"{STATE_DIR}/textfile-dir"
# What the watchdog found and did, so that one incident makes one mail.
WATCHDOG_STATE = f"{STATE_DIR}/watchdog.json"
# Root's crontab the Slackware way (dcron), and the drop-in folder of hosts that use one instead.
ROOT_CRONTAB = "/var/spool/cron/crontabs/root"
CRON_D = "/etc/cron.d"

# The fleet (installer/fleet): bans shared through CrowdSec's Local API (LAPI), enforced by its firewall bouncer.
FLEET_CREDENTIALS = f"{SITE_FOLDER}/fleet"
FLEET_RC_SCRIPT = "/etc/rc.d/rc.qmail-f2b-fleet"
# The Local API's own configuration and database, on the host whose role is lapi.
LAPI_CONFIG_DIR = f"{SITE_FOLDER}/crowdsec"
LAPI_CONFIG = f"{LAPI_CONFIG_DIR}/lapi.yaml"
LAPI_PROFILES = f"{LAPI_CONFIG_DIR}/profiles.yaml"
LAPI_DATA = f"{STATE_DIR}/crowdsec"
# The credentials ./install registered with the LAPI (digests, not secrets): a second run registers only changes.
LAPI_REGISTERED = f"{STATE_DIR}/fleet-registered.json"
# Bans waiting to be published: fail2ban's action writes them, the fleet daemon sends them and keeps
# those the LAPI has not taken, across restarts.
FLEET_SPOOL = "/var/spool/qmail-fail2ban/fleet"
# The fleet daemon's pid, and the bouncer's configuration with its key (written at each start, 0600).
FLEET_RUN_DIR = "/var/run/qmail-f2b-fleet"
FLEET_PIDFILE = f"{FLEET_RUN_DIR}/fleet.pid"
FLEET_LOG = "/var/log/qmail-f2b-fleet.log"
# Debian's crowdsec registers with CrowdSec's Central API as it installs unless this file says no: the
# fleet's LAPI stays offline.
CROWDSEC_OFFLINE = "/etc/crowdsec/online_api_credentials.yaml"
APT_GET = "/usr/bin/apt-get"
