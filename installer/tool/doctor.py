"""qmail-f2b doctor: what stands between this host and working bans, one line per check.

Each check says OK, WARN or FAIL, and what to do. The checks that need no server run whether
fail2ban runs or not; the exit status is 1 when any check FAILs.
"""

import ipaddress
import os
import re
import socket
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from installer.shared import addresses, firewall, manifest, releases
from installer.shared.durations import FOR_EVER, seconds_or_for_ever
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import NOT_RUNNING, Client
from installer.shared.paths import RC_SCRIPT, SERVER, SERVER_OVERRIDE, SITE_CONF, under
from installer.shared.run import last_meaningful_line, run
from installer.siteconf import settings as site_settings
from installer.tool import holdings, logtail
from installer.tool.report import Report

# A scratch chain (iptables) or table (nftables) that proves the firewall can be changed.
SCRATCH = "qmail-f2b-doctor"
CAP_NET_ADMIN = 12
# Only the end of a long log is matched: enough to judge a filter, and doctor stays quick.
SCANNED_LINES = 20000
# One non-public address behind this share of at least this many failures hides the real clients.
HIDDEN_CLIENTS_SHARE = 0.9
HIDDEN_CLIENTS_MINIMUM = 10

BACKEND_NAMES = {"nftables": "nftables", "iptables-nft": "iptables over nf_tables",
                 "iptables-legacy": "legacy iptables"}


@dataclass
class Finding:
    level: str      # OK, WARN or FAIL
    check: str
    message: str


def ok(check, message):
    return Finding("OK", check, message)


def warn(check, message):
    return Finding("WARN", check, message)


def fail(check, message):
    return Finding("FAIL", check, message)


# ---- who runs it -----------------------------------------------------------------------------

def check_root():
    if os.geteuid() == 0:
        return ok("root", "running as root")
    return fail("root", "not running as root: fail2ban and these checks need root; run qmail-f2b doctor as root")


def has_net_admin():
    status = Path("/proc/self/status").read_text()
    found = re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.M)
    return bool(found) and bool(int(found.group(1), 16) >> CAP_NET_ADMIN & 1)


def _scratch_steps(tool, leftovers, steps):
    """Run each step (the tool's arguments) on a scratch object; None, or why the first that failed did.
    leftovers undo a scratch object an interrupted doctor left (which would make the first step fail),
    before and after."""
    def step(arguments):
        return run([tool, *arguments], check=False, timeout=30)
    for arguments in leftovers:
        step(arguments)
    for arguments in steps:
        result = step(arguments)
        if result.returncode != 0:
            for leftover in leftovers:
                step(leftover)
            return last_meaningful_line(result.stderr) or f"{tool} {' '.join(arguments)} failed"
    return None


def _scratch_iptables(tool):
    return _scratch_steps(tool, [("-w", "-F", SCRATCH), ("-w", "-X", SCRATCH)],
                          [("-w", "-N", SCRATCH), ("-w", "-A", SCRATCH, "-j", "RETURN"),
                           ("-w", "-D", SCRATCH, "-j", "RETURN"), ("-w", "-X", SCRATCH)])


def _scratch_nft(tool):
    def batch(text):
        return run([tool, "-f", "-"], input=text, check=False, timeout=30)
    added = batch(f"add table inet {SCRATCH}\nadd chain inet {SCRATCH} probe\n"
                  f"add rule inet {SCRATCH} probe return\n")
    removed = batch(f"delete table inet {SCRATCH}\n")
    for result in (added, removed):
        if result.returncode != 0:
            return last_meaningful_line(result.stderr) or "nft failed"
    return None


def _scratch_ipset(tool):
    return _scratch_steps(tool, [("destroy", SCRATCH)],
                          [("create", SCRATCH, "hash:net"), ("add", SCRATCH, "192.0.2.0/24"), ("destroy", SCRATCH)])


def check_ipset_access(root):
    """The sets of iptables-ipset and of qmail-f2b-set.py[firewall=ipset] need ipset beside iptables."""
    tool = firewall.find_tool(root, "ipset")
    if tool is None:
        return fail("ipset access", "the jails keep their bans in ipsets, but ipset is not installed: install"
                                    f" ipset, or set banaction in {SITE_CONF} and run ./install again")
    problem = _scratch_ipset(tool)
    if problem:
        return fail("ipset access", f"cannot change the firewall's sets with ipset ({problem}): fail2ban needs"
                                    " root with NET_ADMIN")
    return ok("ipset access", "can change the firewall's sets: created, filled and destroyed a scratch set"
                              " with ipset")


def check_firewall_access(root, family):
    """Add and remove a rule in a scratch chain with the tool the jails use."""
    scratch = {"iptables": ("iptables", _scratch_iptables), "nftables": ("nft", _scratch_nft)}
    order = [family] + [other for other in scratch if other != family] if family in scratch else list(scratch)
    for name in order:
        tool_name, probe = scratch[name]
        tool = firewall.find_tool(root, tool_name)
        if tool is None:
            continue
        problem = probe(tool)
        if problem is None:
            return ok("firewall access", f"can change the firewall: added and removed a rule in a scratch"
                                         f" chain with {tool_name}")
        missing = "" if has_net_admin() else "; the NET_ADMIN capability is missing"
        return fail("firewall access", f"cannot change the firewall with {tool_name} ({problem}){missing}:"
                                       " fail2ban needs root with NET_ADMIN (in a container, add the"
                                       " NET_ADMIN capability)")
    return fail("firewall access", "neither iptables nor nft is installed: install iptables")


# ---- firewall backends -----------------------------------------------------------------------

def iptables_mode(root):
    """nf_tables or legacy: what `iptables` drives here (iptables before 1.8 is always legacy); None without it."""
    tool = firewall.find_tool(root, "iptables")
    if tool is None:
        return None
    result = run([tool, "-V"], check=False, timeout=30)
    return "nf_tables" if "nf_tables" in result.stdout else "legacy"


def _probe_tool(root, name, mode, own_mode):
    """The tool that drives one iptables backend: its own name, or plain iptables where that is it."""
    if firewall.find_tool(root, name):
        return name
    return "iptables" if mode == own_mode else None


def legacy_tables():
    """The tables legacy iptables holds in the kernel, or None when the kernel has not loaded it."""
    try:
        return Path("/proc/net/ip_tables_names").read_text().split()
    except OSError:
        return None


def firewall_problems(root):
    """({backend: None where it lists the rules here, else why not}, iptables mode)."""
    mode = iptables_mode(root)
    tools = {"nftables": ("nft", "list", "tables"),
             "iptables-nft": (_probe_tool(root, "iptables-nft", mode, "nf_tables"), "-S"),
             "iptables-legacy": (_probe_tool(root, "iptables-legacy", mode, "legacy"), "-S")}
    working = {}
    for backend, (tool_name, *arguments) in tools.items():
        tool = firewall.find_tool(root, tool_name) if tool_name else None
        if tool is None:
            working[backend] = "not installed"
            continue
        if backend == "iptables-legacy" and mode != "legacy":
            # Listing creates an empty legacy table, after which every iptables-nft listing warns
            # about it: where legacy iptables holds nothing yet, its kernel side is all that is checked.
            tables = legacy_tables()
            if tables is None:
                working[backend] = "not loaded in this kernel"
                continue
            if not tables:
                working[backend] = None if has_net_admin() else "no NET_ADMIN capability"
                continue
        result = run([tool, *arguments], check=False, timeout=30)
        working[backend] = None if result.returncode == 0 else (last_meaningful_line(result.stderr)
                                                               or f"{tool_name} failed")
    return working, mode


def jail_families(configuration):
    """{"iptables", "nftables" or "ipset": [jails]} from the firewall actions the enabled jails run
    (fail2ban's own, and our set action with either firewall)."""
    return holdings.families(configuration)


def nftables_holds_ranges(root):
    """fail2ban's nftables action can ban a CIDR only where its set has `flags interval` (1.1.1 on)."""
    folder = Path(root) / "etc/fail2ban/action.d"
    return any("interval" in path.read_text(errors="replace")
               for path in (folder / "nftables.conf", folder / "nftables.local") if path.is_file())


def check_backends(root, configuration):
    working, mode = firewall_problems(root)
    usable = [BACKEND_NAMES[name] for name, problem in working.items() if problem is None]
    usable_text = ", ".join(usable) or "none"
    families = jail_families(configuration) if configuration else {}
    if not families:
        level = ok if usable else fail
        return level("firewall backends", f"working here: {usable_text}"
                     + ("" if configuration else " (the jails' actions are unknown: see the configuration check)"))
    hint = f"set banaction in {SITE_CONF} to one that works here and run ./install again"
    for family in sorted(families):
        if family == "nftables":
            problem = working["nftables"]
        elif family == "ipset" and firewall.find_tool(root, "ipset") is None:
            problem = "ipset is not installed"
        elif mode is None:
            problem = "iptables is not installed"
        else:
            problem = working["iptables-nft" if mode == "nf_tables" else "iptables-legacy"]
        if problem:
            return fail("firewall backends", f"the jails ban with {family}, which does not work here ({problem});"
                                             f" working here: {usable_text}: {hint}")
    fail2ban_nftables = [jail for jail in families.get("nftables", [])
                         if any(action.startswith("nftables") for action in configuration.actions(jail))]
    if fail2ban_nftables and not nftables_holds_ranges(root):
        return warn("firewall backends", "the jails ban with nftables, whose fail2ban action keeps no ranges"
                                         " (no `flags interval` in action.d/nftables.conf): a CIDR ban stays"
                                         f" out of the firewall; use banaction = iptables in {SITE_CONF}"
                                         " and run ./install again")
    iptables_here = BACKEND_NAMES["iptables-nft" if mode == "nf_tables" else "iptables-legacy"]
    here = {"nftables": "nftables", "iptables": f"iptables ({iptables_here} here)",
            "ipset": f"ipset (matched by {iptables_here} here)"}
    used = ", ".join(here[family] for family in sorted(families))
    return ok("firewall backends", f"the jails ban with {used}; working here: {usable_text}")


# ---- bans that do not lapse ------------------------------------------------------------------

SET_ACTION = "qmail-f2b-set"
ENFORCE_ACTION = "qmail-f2b-enforce"
FAIL2BAN_IPTABLES_ACTIONS = ("iptables-multiport", "iptables-allports", "iptables")
# Where doctor makes the connection it asks ss -K to close: its own, on loopback.
PROBE_ADDRESS = str(ipaddress.ip_network(addresses.LOOPBACK[0]).network_address + 1)


def check_firewall_path(root, configuration):
    """Which path banaction = iptables takes: ipset sets loaded in batches, or one rule per ban."""
    if not configuration:
        return ok("firewall path", "the jails' actions are unknown: see the configuration check")
    per_address = sorted(jail for jail in configuration.jails()
                         if any(action.split("[")[0] in FAIL2BAN_IPTABLES_ACTIONS
                                for action in configuration.actions(jail)))
    if not per_address:
        return ok("firewall path", "the jails keep their bans in firewall sets loaded in batches"
                                   " (qmail-f2b-set.py): 5,000 bans and their restore take seconds")
    jails = ", ".join(per_address)
    if firewall.find_tool(root, "ipset") is None:
        return warn("firewall path", f"the jails {jails} ban with fail2ban's iptables rules, one per address,"
                                     " since ipset is not installed: 5,000 bans take most of a minute to load"
                                     " and again at every start; install ipset and run ./install again")
    return warn("firewall path", f"the jails {jails} ban with fail2ban's iptables rules, one per address,"
                                 " though ipset is installed: run ./install again to keep their bans in ipsets")


def _ss_kill_works(ss):
    """Whether ss -K closes a socket here: a loopback connection of our own is cut and must see it."""
    with socket.socket() as server:
        server.bind((PROBE_ADDRESS, 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection((PROBE_ADDRESS, port), timeout=2) as client:
            accepted, _ = server.accept()
            with accepted:
                client_port = client.getsockname()[1]
                run([ss, "-K", "-t", "-n", "(", "dst", PROBE_ADDRESS, "and", "dport", "=", f":{port}",
                     "and", "sport", "=", f":{client_port}", ")"], check=False, timeout=30)
                client.settimeout(1)
                try:
                    client.recv(1)
                except socket.timeout:
                    return False
                except OSError:
                    # ECONNABORTED: ss -K destroyed it.
                    return True
                return False


def check_session_cutting(root, configuration):
    """Whether a ban can end the banned client's open sessions (qmail-f2b-enforce.py)."""
    ss, conntrack = firewall.find_tool(root, "ss"), firewall.find_tool(root, "conntrack")
    ss_works = bool(ss) and _ss_kill_works(ss)
    conntrack_works = bool(conntrack) and run([conntrack, "-C"], check=False, timeout=30).returncode == 0
    missing_action = ""
    if configuration:
        without = [jail for jail in configuration.jails()
                   if not any(re.sub(r"\.py$", "", action.split("[")[0]) == ENFORCE_ACTION
                              for action in configuration.actions(jail))]
        if without:
            missing_action = (f"; the jails {', '.join(without)} do not carry {ENFORCE_ACTION}.py, so their bans"
                              " cut nothing: run ./install again")
    kernel_hint = ("ss -K cannot close sockets here (the kernel lacks sock_diag destroy support,"
                   " CONFIG_INET_DIAG_DESTROY)" if ss else "ss is not installed (iproute2)")
    conntrack_hint = ("conntrack cannot reach the kernel's connection tracking" if conntrack
                      else "conntrack is not installed (Slackware: conntrack-tools)")
    if ss_works and conntrack_works:
        message = ("a ban ends the client's open sessions: ss -K closes their sockets and conntrack -D removes"
                   " their entries")
    elif ss_works:
        message = (f"a ban closes the client's sockets with ss -K; {conntrack_hint}, so their conntrack entries"
                   " stay until they time out: install it")
    elif conntrack_works:
        message = (f"a ban ends the client's sessions with conntrack -D alone: {kernel_hint}, so the service"
                   " keeps the socket until its own timeout; a kernel with CONFIG_INET_DIAG_DESTROY=y closes"
                   " them")
    else:
        # The bans themselves still hold: a warning, not a failure.
        return warn("session cutting", f"a ban leaves the client's open sessions in place until the service"
                                       f" times them out: {kernel_hint}, and {conntrack_hint}{missing_action}")
    level = ok if ss_works and conntrack_works and not missing_action else warn
    return level("session cutting", message + missing_action)


# ---- fail2ban itself -------------------------------------------------------------------------

def check_python(root):
    server = under(root, SERVER)
    if not server.is_file():
        return fail("python", f"fail2ban is not installed (no {SERVER}): run ./install")
    first = server.read_text(errors="replace").splitlines()[:1]
    python = first[0][2:].strip().split()[0] if first and first[0].startswith("#!") else "python3"
    recorded = manifest.load(root).get("release", {})
    release = recorded.get("version")
    try:
        result = run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], check=False,
                     timeout=30)
    except InstallerError:
        result = None
    if result is None or result.returncode != 0:
        return fail("python", f"fail2ban runs on {python}, which does not start here: run ./install again"
                              " to build it for this host's Python")
    version = result.stdout.strip()
    if release is None:
        return ok("python", f"fail2ban runs on Python {version} ({python}); its release is not recorded")
    running = tuple(int(part) for part in version.split(".")[:2])
    # A release that cannot run on this Python at all first: rebuilding it would not help.
    problem = releases.python_problem(release, running)
    if problem:
        return fail("python", f"{problem}; then run ./install again")
    built_for = manifest.built_python_version(recorded)
    if built_for and built_for != running:
        # Its package sits in the site folder of the old minor version, which the new one does not read.
        return fail("python", f"fail2ban {release} was built for Python {built_for[0]}.{built_for[1]}, but {python}"
                              f" is now Python {version}: run ./install again to rebuild it for this Python")
    return ok("python", f"fail2ban {release} runs on Python {version} ({python})")


def check_running(client):
    if os.geteuid() != 0:
        return fail("running", "cannot ask fail2ban whether it runs: only root may")
    if client.is_running():
        return ok("running", "fail2ban is running")
    return fail("running", NOT_RUNNING)


def check_configuration(client):
    """fail2ban's own test of the configuration, and what the configuration is (None when unreadable).

    A configuration fail2ban refuses can still be read (a missing log, say): the checks of the
    jails then say which part to fix.
    """
    try:
        configuration = client.configuration()
    except InstallerError as error:
        return fail("configuration", f"{error}: fix it, or run ./install again"), None
    try:
        client.test_config()
    except InstallerError as error:
        return fail("configuration", f"{error}: fix it, or run ./install again"), configuration
    jails = configuration.jails()
    return ok("configuration", f"fail2ban accepts the configuration; enabled jails: {', '.join(jails) or 'none'}"), \
        configuration


# ---- the jails' logs ---------------------------------------------------------------------------

def configured_log(jail):
    """The log site.conf gives the jail, for the jails fail2ban found no file for."""
    try:
        return site_settings.load(SITE_CONF).jail(jail).logpath
    except (InstallerError, StopIteration):
        return None


def scan(client, configuration, jail, path):
    """(lines scanned, failure addresses, whether the log is longer) for the end of the log,
    matched as the jail matches."""
    lines = logtail.last_lines(path, SCANNED_LINES + 1)
    if not lines:
        return 0, [], False
    longer, lines = len(lines) > SCANNED_LINES, lines[-SCANNED_LINES:]
    with tempfile.TemporaryDirectory(prefix="qmail-f2b-doctor-") as work:
        filter_file = Path(work, f"{jail}.conf")
        filter_file.write_text(configuration.filter_text(jail))
        log_copy = Path(work, "log")
        log_copy.write_text("\n".join(lines) + "\n", errors="replace")
        usedns = str(configuration.value(jail, "usedns", "no"))
        return len(lines), client.failures(log_copy, filter_file, usedns=usedns, shown=path), longer


def check_logs(client, configuration):
    """One finding per log of an enabled jail, and the failures seen per jail."""
    findings, failures = [], {}
    missing = configuration.jails_without_logs()
    for jail in configuration.jails() + [jail for jail in missing if jail not in configuration.jails()]:
        if jail in missing:
            path = configured_log(jail)
            findings.append(fail(f"jail {jail}", f"jail {jail}: {path or 'its log file'} does not exist, so"
                                                 f" fail2ban will not start: create it"
                                                 f"{f' (touch {path})' if path else ''} or disable"
                                                 f" [[{jail}]] in {SITE_CONF}"))
            continue
        for path in configuration.log_files(jail):
            try:
                count, found, longer = scan(client, configuration, jail, path)
            except OSError as error:
                findings.append(fail(f"jail {jail}", f"jail {jail}: cannot read {path} ({error.strerror}):"
                                                     " run as root, or fix its permissions"))
                continue
            except InstallerError as error:
                # fail2ban-client -t lets a regex pass that then stops the server from starting.
                findings.append(fail(f"jail {jail}", f"jail {jail}: {error}: fix its filter"))
                continue
            failures.setdefault(jail, []).extend(found)
            last = f"the last {count}" if longer else f"{count}"
            findings.append(ok(f"jail {jail}", f"jail {jail}: {path}: its filter matches {len(found)} of"
                                               f" {last} lines"))
    return findings, failures


def check_hidden_clients(failures):
    """When one non-public address makes nearly all of a jail's failures, the real clients are hidden."""
    findings = []
    for jail, found in failures.items():
        if len(found) < HIDDEN_CLIENTS_MINIMUM:
            continue
        address, count = Counter(found).most_common(1)[0]
        try:
            public = addresses.is_public(address)
        except InstallerError:
            continue
        if not public and count >= HIDDEN_CLIENTS_SHARE * len(found):
            findings.append(warn("hidden clients", f"jail {jail}: {count} of its {len(found)} failures come from"
                                 f" {address}, a private address: a NAT gateway or a rootless port forwarder"
                                 " hides the real clients, and banning it would lock everyone out; let the"
                                 " service see the clients' own addresses"))
    return findings or [ok("hidden clients", "no jail sees nearly all its failures come from one private address")]


# ---- bans that must last, and the admin ---------------------------------------------------------

def longest_bantime(configuration):
    """(seconds, jail, as written) of the longest ban any enabled jail gives; -1 seconds is for ever."""
    longest = None
    for jail in configuration.jails():
        candidates = [configuration.value(jail, "bantime")]
        if str(configuration.value(jail, "bantime.increment", "")).lower() in ("true", "1", "yes", "on"):
            candidates.append(configuration.value(jail, "bantime.maxtime"))
        for written in filter(None, candidates):
            seconds = seconds_or_for_ever(written)
            if seconds is None:
                continue
            rank = float("inf") if seconds == FOR_EVER else seconds
            if longest is None or rank > longest[0]:
                longest = (rank, jail, str(written))
    return longest


def check_dbpurgeage(configuration):
    where = f"under [Definition] in {SERVER_OVERRIDE} and run {RC_SCRIPT} reload"
    dbfile = str(configuration.server("dbfile", "None"))
    if dbfile in ("None", ":memory:"):
        return warn("dbpurgeage", f"fail2ban keeps no database (dbfile = {dbfile}): every ban is lost at a"
                                  f" restart; set dbfile = /var/lib/fail2ban/fail2ban.sqlite3 {where}")
    purge_text = str(configuration.server("dbpurgeage", "1d"))
    purge = seconds_or_for_ever(purge_text)
    longest = longest_bantime(configuration)
    if purge is None:
        return warn("dbpurgeage", f"cannot read dbpurgeage = {purge_text}: give a time such as 180d {where}")
    if longest is None:
        return ok("dbpurgeage", f"dbpurgeage is {purge_text}; no jail gives a ban time")
    seconds, jail, written = longest
    if seconds == float("inf"):
        return warn("dbpurgeage", f"jail {jail} bans for ever (bantime = {written}), but the database forgets"
                                  f" bans older than dbpurgeage ({purge_text}): give {jail} a bantime")
    if purge < seconds:
        return warn("dbpurgeage", f"dbpurgeage ({purge_text}) is shorter than the bantime of {jail} ({written}):"
                                  f" a restart forgets the older of its bans; set dbpurgeage = {written} {where}")
    return ok("dbpurgeage", f"dbpurgeage ({purge_text}) covers the longest bantime ({jail}, {written})")


def check_admin(configuration, environ):
    admin = addresses.ssh_client(environ)
    if admin is None:
        return ok("ssh client", "no SSH session here (SSH_CLIENT is unset): no admin address to check")
    shown = addresses.spell(admin)
    uncovered = [jail for jail in configuration.jails()
                 if addresses.overlap(admin, addresses.networks(configuration.values(jail, "addignoreip"))) is None]
    if uncovered:
        return warn("ssh client", f"your SSH client {shown} is not in ignoreip of {', '.join(uncovered)}: a few"
                                  f" mistyped passwords would lock you out; add it to ignoreip in {SITE_CONF}"
                                  " and run ./install again")
    return ok("ssh client", f"your SSH client {shown} is in ignoreip")


# ---- what the firewall holds ---------------------------------------------------------------------

HOLDINGS_CHECK = "firewall holds"


def counted(number, thing, things=None):
    return f"{number} {thing if number == 1 else things or thing + 's'}"


def check_holdings(root, configuration, banned):
    """Per running jail: does the firewall hold every ban fail2ban lists (a flushed chain or set,
    or a firewall reloaded by hand, leaves fail2ban believing addresses are banned that are not)."""
    found = []
    for jail, held in holdings.holdings(root, configuration, banned).items():
        if jail not in banned:
            continue
        check = f"{HOLDINGS_CHECK} {jail}"
        if not held.stores:
            actions = ", ".join(configuration.actions(jail)) or "none"
            found.append(warn(check, f"firewall of {jail}: none of its actions ({actions}) is a firewall action"
                                     " qmail-f2b knows, so whether the firewall holds its bans is not checked"))
        elif held.problem:
            found.append(fail(check, f"firewall of {jail}: cannot read {held.where} ({held.problem}): run as root with"
                                     " NET_ADMIN, and see the firewall checks"))
        elif held.missing:
            shown = " ".join(held.missing[:5]) + (" ..." if len(held.missing) > 5 else "")
            found.append(fail(check, f"firewall of {jail}: {held.where} {held.says('lacks', 'lack')}"
                                     f" {len(held.missing)} of fail2ban's"
                                     f" {counted(len(held.banned), 'ban')} ({shown}): the firewall was flushed or"
                                     f" reloaded behind fail2ban; put them back with {RC_SCRIPT} restart"))
        else:
            entries = counted(len(held.held), "entry", "entries")
            found.append(ok(check, f"firewall of {jail}: {held.where} {held.says('holds', 'hold')} {entries},"
                                   " covering fail2ban's"
                                   f" {counted(len(held.banned), 'ban')}"))
    return found


# ---- the fleet ----------------------------------------------------------------------------------

FLEET_CHECK = "fleet"
# A ban queued longer than this has not reached the other hosts: the LAPI is down, or refuses us.
QUEUED_TOO_LONG = 60


def check_fleet(root):
    """[fleet]: the credentials, the Local API (password and bouncer key), the daemon, the bouncer's
    rule and sets, and bans waiting to be published; nothing outside a fleet."""
    from installer.fleet import bouncer, daemon, spool
    from installer.fleet.lapi import Unreachable
    from installer.shared import paths
    from installer.tool import fleet as tool_fleet
    try:
        fleet = tool_fleet.configured(root)
    except InstallerError as error:
        return [fail(FLEET_CHECK, f"cannot read the fleet's settings: {error}")]
    if fleet is None:
        return []
    try:
        lapi = tool_fleet.connect(fleet)
    except InstallerError as error:
        return [fail(FLEET_CHECK, f"fleet: {error}")]
    found = []
    try:
        lapi.login()
        decisions = lapi.decisions()
        found.append(ok(FLEET_CHECK, f"fleet: the Local API at {fleet.lapi_url} takes {fleet.name}'s password and"
                                     f" bouncer key; {counted(len(decisions), 'decision')} in force"))
    except Unreachable as error:
        found.append(fail(FLEET_CHECK, f"fleet: {error}: this host's bans wait in {paths.FLEET_SPOOL} and the"
                                       " fleet's bans are not updated here" + (
                                           f"; start it with {paths.FLEET_RC_SCRIPT} start"
                                           if fleet.runs_lapi else "")))
    except InstallerError as error:
        found.append(fail(FLEET_CHECK, f"fleet: {error}"))
    pid = daemon.running_pid()
    if not pid:
        found.append(fail(FLEET_CHECK, "fleet: the fleet daemon is not running, so this host neither shares its bans"
                                       f" nor enforces the fleet's: {paths.FLEET_RC_SCRIPT} start"))
    else:
        sets = tool_fleet.bouncer_entries()
        rules = [run(["iptables", "-w", *rule], check=False, what="iptables -C").returncode for rule in (
            ("-C", "INPUT", "-j", bouncer.GUARD),
            ("-C", bouncer.CHAIN, "-m", "set", "--match-set", bouncer.SET4, "src", "-j", "DROP"))]
        if not sets or any(rules):
            found.append(fail(FLEET_CHECK, f"fleet: the firewall bouncer enforces nothing: ipset {bouncer.SET4},"
                                           f" its DROP rule in {bouncer.CHAIN} or the jump to {bouncer.GUARD} from"
                                           " INPUT is missing (the daemon starts the bouncer again within 30 s;"
                                           f" see {paths.FLEET_LOG})"))
        else:
            found.append(ok(FLEET_CHECK, "fleet: the firewall bouncer enforces the fleet's bans ("
                                         + ", ".join(f"{name} {count}" for name, count in sorted(sets.items()))
                                         + f"); daemon pid {pid}"))
    waiting = spool.pending(paths.FLEET_SPOOL)
    if waiting:
        age = max(0.0, time.time() - waiting[0].stat().st_mtime) if waiting[0].exists() else 0.0
        if age > QUEUED_TOO_LONG:
            found.append(warn(FLEET_CHECK, f"fleet: {counted(len(waiting), 'ban')} wait to be published, the"
                                           f" oldest for {age:.0f} s (see {paths.FLEET_LOG})"))
    return found


# ---- all of it ---------------------------------------------------------------------------------

def findings(client, root="/", environ=os.environ, scan_logs=True):
    found = [check_root(), check_python(root)]
    configuration_finding, configuration = check_configuration(client)
    found += [check_running(client), configuration_finding]
    families = jail_families(configuration) if configuration else {}
    found.append(check_firewall_access(root, "nftables" if set(families) == {"nftables"} else "iptables"))
    if "ipset" in families:
        found.append(check_ipset_access(root))
    found += [check_backends(root, configuration), check_firewall_path(root, configuration),
              check_session_cutting(root, configuration)]
    if configuration is not None:
        if scan_logs:
            log_findings, failures = check_logs(client, configuration)
            found += log_findings
            found += check_hidden_clients(failures)
        found += [check_dbpurgeage(configuration), check_admin(configuration, environ)]
        banned = running_bans(client)
        if banned is not None:
            found += check_holdings(root, configuration, banned)
    found += check_fleet(root)
    return found


def running_bans(client):
    """fail2ban's {jail: [bans]}, or None when no server answers (the running check says so)."""
    if os.geteuid() != 0:
        return None
    try:
        return client.banned()
    except InstallerError:
        return None


def doctor(client=None, root="/", environ=os.environ):
    found = findings(client or Client(root), root, environ)
    failed = any(finding.level == "FAIL" for finding in found)
    return Report({"ok": not failed, "checks": [asdict(finding) for finding in found]},
                  [f"{finding.level:<4}  {finding.message}" for finding in found], 1 if failed else 0)


# ---- as a Nagios/Icinga plugin ------------------------------------------------------------------

NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3
NAGIOS_STATES = {NAGIOS_OK: "OK", NAGIOS_WARNING: "WARNING", NAGIOS_CRITICAL: "CRITICAL",
                 NAGIOS_UNKNOWN: "UNKNOWN"}


def nagios(client=None, root="/", environ=os.environ):
    """doctor's checks as the plugin convention wants them: one status line with perfdata, and exit
    0 (OK), 1 (WARNING: a doctor warning), 2 (CRITICAL: a failure, such as a server that does not
    answer or a firewall that holds fewer bans than fail2ban) or 3 (UNKNOWN: not run as root, so
    nothing could be asked). The log scans are left out: a plugin must answer within seconds."""
    client = client or Client(root)
    found = findings(client, root, environ, scan_logs=False)
    failed = [finding for finding in found if finding.level == "FAIL"]
    warned = [finding for finding in found if finding.level == "WARN"]
    held = [finding for finding in found if finding.check.startswith(HOLDINGS_CHECK) and finding.level != "WARN"]
    missing = [finding for finding in held if finding.level == "FAIL"]
    if os.geteuid() != 0:
        state, shown = NAGIOS_UNKNOWN, [finding.message for finding in failed[:1]]
    elif failed:
        state, shown = NAGIOS_CRITICAL, [finding.message for finding in failed]
    elif warned:
        state, shown = NAGIOS_WARNING, [finding.message for finding in warned]
    else:
        state, shown = NAGIOS_OK, [f"fail2ban is running; the firewall holds every ban of"
                                   f" {counted(len(held), 'jail')}"]
    banned = running_bans(client) or {}
    perfdata = (f"jails={len(banned)};;;0 banned={sum(len(bans) for bans in banned.values())};;;0"
                f" firewall_short_jails={len(missing)};;1;0 failures={len(failed)};;1;0 warnings={len(warned)};1;;0")
    line = f"QMAIL-F2B {NAGIOS_STATES[state]} - {'; '.join(shown)} | {perfdata}"
    return Report({"state": NAGIOS_STATES[state], "exit": state, "checks": [asdict(finding) for finding in found]},
                  [line], state)
