# Fail2Ban action of qmail-fail2ban: bans kept in firewall sets, loaded in batches.
#
# fail2ban's command actions start one shell and one firewall process per ban, about 130 bans
# a second: a 5,000-address blocklist, or restoring it at every start, takes most of a minute.
# This action keeps a jail's bans in address sets (an nftables table, or ipsets matched by one
# iptables rule per family) and brings them up to date with one firewall process per batch
# (nft -f, ipset restore), whatever the number of addresses that arrived meanwhile.
#
# fail2ban's database stays the one record of bans: the sets are created empty at every start
# and filled from fail2ban's own restore of its bans; nothing is saved beside it.
#
# fail2ban believes a ban is in place once ban() returns, so the firewall must come to hold it
# whatever happens meanwhile: the writer outlives every error, retries (0.2 s, doubling to 5 s)
# while the firewall tool cannot run, and a batch the firewall refuses costs only the addresses
# it refuses, never the rest of the jail. Only canonically spelled addresses and networks are
# written into a batch: one stray character would make nft refuse every batch after it.
# Rebuilding the sets (at start, after a refused batch, at a reload with new options) replaces
# them in one step with every ban in them, so a jail is never seen empty.
#
# Reloading the firewall (rc.firewall restart, iptables -F; iptables -X, nft flush ruleset)
# removes the table or the rules matching the sets, and fail2ban would not notice until a
# restart. The writer, while idle, looks once a second whether they are still there (one listing
# shared by every jail) and rebuilds them, every ban included, in one batch when they are not.
# It lives here because this action alone knows what it created and holds every ban of the jail;
# it is a thread of fail2ban-server, so it starts and stops with the jail.
#
# Use, in a jail (options in brackets; all are optional):
#   action = qmail-f2b-set.py[firewall=nftables, port="25,587", protocol=tcp, blocktype=reject]
#
#   firewall   nftables (table inet qmail-f2b-JAIL) or ipset (sets qf2b4-JAIL and qf2b6-JAIL,
#              matched by iptables/ip6tables rules in INPUT marked with the comment qmail-f2b:JAIL)
#   port       ports, ranges or service names (25,587 or 1000:2000 or smtp); empty or absent:
#              every port
#   protocol   tcp or udp
#   blocktype  reject or drop
#
# IPv4 and IPv6 addresses and CIDR networks (qmail-f2b ban 192.0.2.0/24) are all accepted;
# scoped IPv6 addresses (fe80::1%eth0) are not: a firewall set holds no interface.

import ipaddress
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time

from fail2ban.server.action import ActionBase

JAIL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# ipset names hold at most 31 characters; "qf2b4-" takes 6 of them.
LONGEST_JAIL_NAME = 25
PORT_NUMBER = re.compile(r"[0-9]{1,5}")
SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]*")
# iptables' multiport match takes at most 15 ports, a range counting as two.
MULTIPORT_SLOTS = 15
# All a set element may be spelled with: what ipaddress writes for an address or a network.
ELEMENT = re.compile(r"[0-9a-f.:]+(/[0-9]{1,3})?")
TOOL_FOLDERS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin")
COMMAND_TIMEOUT = 120
FIRST_RETRY, LAST_RETRY = 0.2, 5.0
# How often the idle writer looks whether the firewall still holds the sets.
WATCH_EVERY = 1.0
# Every jail's writer asks for the same listings within the same second: they are shared for this
# long. fail2ban loads this file once per jail into the same module, so the cache is kept across
# those loads (globals() still holds the first one's).
LISTING_FRESH_FOR = 0.5
_LISTINGS = globals().get("_LISTINGS", {})
_LISTINGS_LOCK = globals().get("_LISTINGS_LOCK", threading.Lock())
# Batches spent at most, per attempt, on finding the addresses the firewall refuses (a halving
# search takes about 2 log2(n) batches per refused address); the rest waits for the next attempt.
ISOLATION_BATCHES = 64


class FirewallError(Exception):
    pass


class ToolUnavailable(FirewallError):
    """The firewall tool could not be run (missing, not executable, out of memory, too slow):
    nothing was changed, or not knowingly; the same batch is worth trying again later."""


class Refused(FirewallError):
    """The firewall tool ran and refused the batch."""


def tool(name):
    """The firewall tool's path: the server may run with a PATH that lacks the sbin folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in TOOL_FOLDERS:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise ToolUnavailable(f"{name} is not installed or not executable")


def shown(argv):
    # shlex.join is Python 3.8's; fail2ban may run on 3.7.
    return " ".join(shlex.quote(arg) for arg in argv)


def command(argv, input=None, check=True):
    try:
        result = subprocess.run([tool(argv[0]), *argv[1:]], input=input, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"{shown(argv)} did not finish within {COMMAND_TIMEOUT} s") from None
    except OSError as error:
        raise ToolUnavailable(f"{shown(argv)} could not be run: {error}") from None
    if check and result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0]
        raise Refused(f"{shown(argv)} failed (exit {result.returncode}): {reason}")
    return result


def shared_listing(argv):
    """The output of a listing command, taken at most every LISTING_FRESH_FOR seconds; None: it failed."""
    key = tuple(argv)
    with _LISTINGS_LOCK:
        taken = _LISTINGS.get(key)
        if taken and time.monotonic() - taken[0] < LISTING_FRESH_FOR:
            return taken[1]
        try:
            listing = command(argv).stdout
        except FirewallError:
            listing = None
        _LISTINGS[key] = (time.monotonic(), listing)
        return listing


def checked_port(item, protocol):
    """The port, range or service name as the firewall takes it; ValueError naming what is wrong."""
    low, colon, high = item.partition(":")
    if colon:
        if not (PORT_NUMBER.fullmatch(low) and PORT_NUMBER.fullmatch(high)):
            raise ValueError(f"qmail-f2b-set: port range {item!r} must be two port numbers (1000:2000)")
        numbers = (int(low), int(high))
    elif PORT_NUMBER.fullmatch(item):
        numbers = (int(item),)
    elif SERVICE_NAME.fullmatch(item):
        try:
            socket.getservbyname(item, protocol)
        except OSError:
            raise ValueError(f"qmail-f2b-set: port {item!r} is no {protocol} service this host knows"
                             " (/etc/services)") from None
        return item
    else:
        raise ValueError(f"qmail-f2b-set: {item!r} is not a port, a port range (1000:2000) or a service name")
    if not all(1 <= number <= 65535 for number in numbers):
        raise ValueError(f"qmail-f2b-set: port {item!r} is out of range (ports are 1 to 65535)")
    if numbers[0] > numbers[-1]:
        raise ValueError(f"qmail-f2b-set: port range {item!r} ends before it starts")
    return ":".join(str(number) for number in numbers)


class Settings:
    def __init__(self, jail, firewall="nftables", port="", protocol="tcp", blocktype="reject", **unknown):
        if unknown:
            raise ValueError(f"qmail-f2b-set: unknown option {sorted(unknown)[0]!r}"
                             " (it takes firewall, port, protocol and blocktype)")
        if not JAIL_NAME.fullmatch(jail) or len(jail) > LONGEST_JAIL_NAME:
            raise ValueError(f"qmail-f2b-set: jail name {jail!r} must be at most {LONGEST_JAIL_NAME} letters,"
                             " digits, '.', '_' or '-'")
        if firewall not in FIREWALLS:
            raise ValueError(f"qmail-f2b-set: firewall must be one of {', '.join(FIREWALLS)}, not {firewall!r}")
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"qmail-f2b-set: protocol must be tcp or udp, not {protocol!r}")
        ports = tuple(checked_port(item.strip(), protocol) for item in port.split(",") if item.strip())
        if firewall == "ipset" and sum(1 + (":" in item) for item in ports) > MULTIPORT_SLOTS:
            raise ValueError(f"qmail-f2b-set: iptables matches at most {MULTIPORT_SLOTS} ports (a range counts"
                             f" as two), not {port!r}")
        if blocktype not in ("reject", "drop"):
            raise ValueError(f"qmail-f2b-set: blocktype must be reject or drop, not {blocktype!r}")
        self.jail, self.firewall, self.ports = jail, firewall, ports
        self.protocol, self.blocktype = protocol, blocktype

    def key(self):
        return (self.firewall, self.ports, self.protocol, self.blocktype)


def banned_network(text):
    """The network a ban names, as ipaddress spells it; ValueError for anything else."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"qmail-f2b-set bans IP addresses and networks only, not {text!r}") from None
    # Python 3.9 and later read "fe80::1%eth0" (and any text after the %) as a scoped address.
    if getattr(network.network_address, "scope_id", None) is not None or not ELEMENT.fullmatch(str(network)):
        raise ValueError(f"qmail-f2b-set bans plain IP addresses and networks only, not {text!r}"
                         " (a firewall set holds no interface scope)")
    return network


def is_single(network):
    return network.prefixlen == network.max_prefixlen


def spelled(network):
    """How a set element is written into a batch: checked again here, as a batch is refused whole."""
    text = str(network.network_address) if is_single(network) else str(network)
    if not ELEMENT.fullmatch(text):
        raise ValueError(f"qmail-f2b-set: {text!r} is no set element")
    return text


class Nftables:
    """One table per jail: sets of single addresses, sets of networks, and a chain that rejects both.

    Networks are kept apart because an interval set refuses overlapping elements: their set holds
    the union of the banned networks, recomputed when they change, so that 192.0.2.0/24 and
    192.0.2.0/25 can both be banned and unbanned in any order.
    """

    def __init__(self, settings):
        self.settings = settings
        self.table = f"inet qmail-f2b-{settings.jail}"

    def _rules(self):
        proto = self.settings.protocol
        match = (f"{proto} dport {{ {', '.join(port.replace(':', '-') for port in self.settings.ports)} }}"
                 if self.settings.ports else f"meta l4proto {proto}")
        verdict = self.settings.blocktype
        return [f"{match} {family} saddr @{kind}{version} {verdict}"
                for version, family in ((4, "ip"), (6, "ip6")) for kind in ("addr", "net")]

    @staticmethod
    def _contents(networks):
        """Each set's elements for these bans, spelled: {set name: element texts}."""
        contents = {}
        for version in (4, 6):
            family = {net for net in networks if net.version == version}
            addresses = {net for net in family if is_single(net)}
            contents[f"addr{version}"] = {spelled(net) for net in addresses}
            contents[f"net{version}"] = {spelled(net) for net in ipaddress.collapse_addresses(family - addresses)}
        return contents

    def create(self, networks):
        definition = [f"add table {self.table}", f"delete table {self.table}", f"table {self.table} {{"]
        contents = self._contents(networks)
        for version in (4, 6):
            for kind, flags in (("addr", ""), ("net", " flags interval;")):
                elements = contents[f"{kind}{version}"]
                listed = f" elements = {{ {', '.join(sorted(elements))} }};" if elements else ""
                definition.append(f"  set {kind}{version} {{ type ipv{version}_addr;{flags}{listed} }}")
        definition += ["  chain input {", "    type filter hook input priority -1; policy accept;"]
        definition += [f"    {rule}" for rule in self._rules()]
        definition += ["  }", "}"]
        # One transaction: whatever a killed server or the previous options left is replaced by
        # the full new table, bans included, or nothing changes if any of it is refused.
        command(["nft", "-f", "-"], input="\n".join(definition) + "\n")

    def remove(self):
        command(["nft", "delete", "table", *self.table.split()], check=False)

    def lost(self):
        """Whether the table is gone (False when nft cannot tell)."""
        listing = shared_listing(["nft", "list", "tables"])
        return listing is not None and f"table {self.table}" not in listing.splitlines()

    def update(self, before, after):
        # Set differences first, spelling only what changed: a batch costs what arrived, not the jail.
        deletions, additions = {}, {}
        for version in (4, 6):
            old = {net for net in before if net.version == version}
            new = {net for net in after if net.version == version}
            old_addresses = {net for net in old if is_single(net)}
            new_addresses = {net for net in new if is_single(net)}
            deletions[f"addr{version}"] = old_addresses - new_addresses
            additions[f"addr{version}"] = new_addresses - old_addresses
            old_nets, new_nets = old - old_addresses, new - new_addresses
            if old_nets != new_nets:
                old_union = set(ipaddress.collapse_addresses(old_nets))
                new_union = set(ipaddress.collapse_addresses(new_nets))
                deletions[f"net{version}"], additions[f"net{version}"] = old_union - new_union, new_union - old_union
        # Deletions first: a network leaving the union may be replaced by a larger one.
        lines = [f"{verb} element {self.table} {name} {{ {', '.join(spelled(net) for net in sorted(elements))} }}"
                 for verb, changes in (("delete", deletions), ("add", additions))
                 for name, elements in changes.items() if elements]
        if lines:
            command(["nft", "-f", "-"], input="\n".join(lines) + "\n")


class Ipset:
    """hash:net ipsets per family (they hold addresses and overlapping networks alike), each matched
    by one rule in INPUT that carries a comment naming the jail, so that it can always be found."""

    FAMILIES = ((4, "iptables", "inet"), (6, "ip6tables", "inet6"))
    MAXELEM = 1048576

    def __init__(self, settings):
        self.settings = settings
        self.comment = f"qmail-f2b:{settings.jail}"

    def set_name(self, version):
        return f"qf2b{version}-{self.settings.jail}"

    def new_set_name(self, version):
        """Where the sets are built before they are swapped in: as long as set_name."""
        return f"qf2n{version}-{self.settings.jail}"

    def _rule(self, version):
        rule = ["-p", self.settings.protocol]
        if self.settings.ports:
            rule += ["-m", "multiport", "--dports", ",".join(self.settings.ports)]
        rule += ["-m", "set", "--match-set", self.set_name(version), "src",
                 "-m", "comment", "--comment", self.comment,
                 "-j", "REJECT" if self.settings.blocktype == "reject" else "DROP"]
        return rule

    def _our_rules(self, iptables):
        listing = command([iptables, "-w", "-S", "INPUT"], check=False).stdout
        rules = (shlex.split(line) for line in listing.splitlines())
        return [rule[2:] for rule in rules if rule[:2] == ["-A", "INPUT"] and self.comment in rule]

    def create(self, networks):
        # Built aside and swapped in: the rules match the old sets until the new ones, bans
        # included, take their names. ipset restore stops at a refused line, before the swap.
        script = []
        for version, _, family in self.FAMILIES:
            new, current = self.new_set_name(version), self.set_name(version)
            kind = f"hash:net family {family} maxelem {self.MAXELEM}"
            script += [f"create {new} {kind} -exist", f"flush {new}"]
            script += [f"add {new} {spelled(net)}" for net in sorted(networks, key=str) if net.version == version]
            script += [f"create {current} {kind} -exist", f"swap {new} {current}", f"destroy {new}"]
        try:
            command(["ipset", "-exist", "restore"], input="\n".join(script) + "\n")
        except FirewallError:
            for version, _, _ in self.FAMILIES:
                command(["ipset", "destroy", self.new_set_name(version)], check=False)
            raise
        # The new rules go in before the old ones leave (an identical old one may take the new
        # one's place, to the same effect): the sets are matched throughout.
        for version, iptables, _ in self.FAMILIES:
            old_rules = self._our_rules(iptables)
            command([iptables, "-w", "-I", "INPUT", *self._rule(version)])
            for rule in old_rules:
                command([iptables, "-w", "-D", "INPUT", *rule], check=False)

    def lost(self):
        """Whether a set or a rule matching it is gone (False when the tools cannot tell)."""
        sets = shared_listing(["ipset", "list", "-n"])
        if sets is not None and not {self.set_name(4), self.set_name(6)} <= set(sets.split()):
            return True
        for _, iptables, _ in self.FAMILIES:
            listing = shared_listing([iptables, "-w", "-S"])
            if listing is None:
                continue
            rules = (line.split() for line in listing.splitlines() if line.startswith("-A INPUT "))
            if not any(self.comment in rule or f'"{self.comment}"' in rule for rule in rules):
                return True
        return False

    def remove(self):
        for _, iptables, _ in self.FAMILIES:
            for rule in self._our_rules(iptables):
                command([iptables, "-w", "-D", "INPUT", *rule], check=False)
        for version, _, _ in self.FAMILIES:
            for name in (self.set_name(version), self.new_set_name(version)):
                command(["ipset", "destroy", name], check=False)

    def update(self, before, after):
        lines = [f"del {self.set_name(net.version)} {spelled(net)}" for net in sorted(before - after, key=str)]
        lines += [f"add {self.set_name(net.version)} {spelled(net)}" for net in sorted(after - before, key=str)]
        if lines:
            command(["ipset", "restore", "-exist"], input="\n".join(lines) + "\n")


FIREWALLS = {"nftables": Nftables, "ipset": Ipset}


class Action(ActionBase):
    """fail2ban calls ban and unban once per address, in its own threads; they only record the
    change and wake the writer thread, which brings the firewall up to date in one batch."""

    def __init__(self, jail, name, **options):
        super().__init__(jail, name)
        self._settings = Settings(jail.name, **options)
        self._firewall = FIREWALLS[self._settings.firewall](self._settings)
        self._banned = set()        # networks fail2ban holds banned in this jail
        self._refused = set()       # banned networks the firewall refused, kept out of batches
        self._applied = set()       # networks last written to the firewall
        self._rebuild = True        # whether the firewall may differ from _applied: rebuild it whole
        self._changed = threading.Condition()
        self._pending = False
        self._stopping = False
        self._writing = threading.Lock()
        self._writer = None
        self._last_failure = None

    # --- fail2ban's calls -------------------------------------------------------------------

    def start(self):
        with self._changed:
            self._stopping = False
        try:
            with self._writing:
                self._rebuild = True
                wanted = self._wanted()
                self._firewall.create(wanted)
                self._applied, self._rebuild = wanted, False
        finally:
            # Started even when the firewall cannot be set up yet: it keeps trying, bans included.
            if not (self._writer and self._writer.is_alive()):
                self._writer = threading.Thread(target=self._write_changes, name=f"f2b/set.{self._jail.name}",
                                                daemon=True)
                self._writer.start()
            self._wake()

    def stop(self):
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._writer:
            self._writer.join(COMMAND_TIMEOUT)
        with self._writing:
            self._applied, self._rebuild = set(), True
            self._firewall.remove()

    def ban(self, aInfo):
        network = self._network(aInfo)
        if network is None:
            return
        with self._changed:
            self._banned.add(network)
        self._wake()

    def unban(self, aInfo):
        network = self._network(aInfo, quiet=True)
        if network is None:
            return
        with self._changed:
            self._banned.discard(network)
            self._refused.discard(network)
        self._wake()

    def flush(self):
        """Every ban lifted at once (fail2ban-client unban --all, and at stop): one batch."""
        with self._changed:
            self._banned.clear()
            self._refused.clear()
        if not self._bring_up_to_date():
            self._wake()
        return True

    def clearAllParams(self):
        # Its presence tells fail2ban to keep this action and call reload() on a reload,
        # instead of replacing it with a new one that would drop the sets' contents.
        pass

    def reload(self, **options):
        # Bad options raise here, before anything is touched: the jail keeps its firewall.
        settings = Settings(self._jail.name, **options)
        if settings.key() == self._settings.key():
            return
        firewall = FIREWALLS[settings.firewall](settings)
        with self._writing:
            wanted = self._wanted()
            try:
                firewall.create(wanted)
            except FirewallError:
                # The old table or sets are in place still (or partly rebuilt, for ipset): the
                # writer rebuilds them with the old options, and the next reload starts afresh.
                self._rebuild = True
                self._wake()
                raise
            if settings.firewall != self._settings.firewall:
                try:
                    self._firewall.remove()
                except FirewallError as error:
                    self._logSys.error("[%s] removing the %s sets after the reload failed: %s",
                                       self._jail.name, self._settings.firewall, error)
            self._settings, self._firewall = settings, firewall
            self._applied, self._rebuild = wanted, False
        self._wake()

    # --- the writer ---------------------------------------------------------------------------

    def _network(self, aInfo, quiet=False):
        try:
            return banned_network(str(aInfo["ip"]))
        except ValueError as error:
            # Nothing unspelled reaches a batch: the firewall would refuse the whole of it.
            (self._logSys.debug if quiet else self._logSys.error)("[%s] %s; left out of the firewall",
                                                                  self._jail.name, error)
            return None

    def _wanted(self):
        with self._changed:
            return self._banned - self._refused

    def _wake(self):
        with self._changed:
            self._pending = True
            self._changed.notify()

    def _write_changes(self):
        retry_in = 0
        while True:
            try:
                idle = False
                with self._changed:
                    if retry_in:
                        # Bans arriving meanwhile join the retry rather than hasten it.
                        deadline = time.monotonic() + retry_in
                        while not self._stopping and time.monotonic() < deadline:
                            self._changed.wait(deadline - time.monotonic())
                    else:
                        deadline = time.monotonic() + WATCH_EVERY
                        while not (self._pending or self._stopping) and time.monotonic() < deadline:
                            self._changed.wait(deadline - time.monotonic())
                        idle = not self._pending
                    if self._stopping:
                        return
                    self._pending = False
                if idle:
                    self._watch()
                done = self._bring_up_to_date()
            except Exception as error:
                # The thread must outlive anything: without it no ban of this jail would reach
                # the firewall until a restart.
                self._logSys.exception("[%s] the firewall sets' writer failed: %s", self._jail.name, error)
                done = False
            retry_in = 0 if done else min(max(retry_in * 2, FIRST_RETRY), LAST_RETRY)

    def _watch(self):
        """Rebuild the sets, bans included, when a firewall reload removed them."""
        with self._writing:
            if self._rebuild or not self._firewall.lost():
                return
            self._rebuild = True
        self._logSys.warning("[%s] the firewall lost the %s sets (reloaded or flushed?); putting them back"
                             " with every ban", self._jail.name, self._settings.firewall)

    def _bring_up_to_date(self):
        """Whether the firewall now holds every ban (but those it refused); False: try again later."""
        with self._writing:
            wanted = self._wanted()
            if wanted == self._applied and not self._rebuild:
                return True
            try:
                self._apply(wanted)
            except Exception as error:
                self._rebuild = True
                message = f"updating the firewall sets failed: {error}"
                # Logged once for as long as it lasts, not at every retry.
                if message != self._last_failure:
                    self._logSys.error("[%s] %s; trying again", self._jail.name, message)
                    self._last_failure = message
                return False
            if self._last_failure:
                self._logSys.info("[%s] the firewall sets are up to date again", self._jail.name)
                self._last_failure = None
            return not self._rebuild

    def _apply(self, wanted):
        if not self._rebuild:
            try:
                self._firewall.update(self._applied, wanted)
                self._applied = wanted
                return
            except Refused as error:
                self._logSys.warning("[%s] the firewall refused a batch (%s); rebuilding its sets",
                                     self._jail.name, error)
                self._rebuild = True
        try:
            self._firewall.create(wanted)
            self._applied, self._rebuild = wanted, False
            return
        except Refused as error:
            self._logSys.warning("[%s] the firewall refused the rebuilt sets (%s); looking for the bans it"
                                 " refuses", self._jail.name, error)
        # The bans written before were taken: rebuilt with them alone, a refusal here is not
        # the bans' doing and waits for the next attempt. Then the rest goes in by halves.
        base = self._applied & wanted
        self._firewall.create(base)
        self._applied, self._rebuild = base, False
        self._add_isolating(sorted(wanted - base, key=str), [ISOLATION_BATCHES])

    def _add_isolating(self, networks, budget):
        if not networks:
            return
        if budget[0] <= 0:
            # Left for the next attempt; an ipset batch cut short may have left some of them in.
            self._rebuild = True
            return
        budget[0] -= 1
        try:
            self._firewall.update(self._applied, self._applied | set(networks))
            self._applied = self._applied | set(networks)
            return
        except Refused as error:
            if len(networks) == 1:
                with self._changed:
                    if networks[0] in self._banned:
                        self._refused.add(networks[0])
                self._logSys.error("[%s] the firewall refuses %s (%s); it stays out until unbanned",
                                   self._jail.name, spelled(networks[0]), error)
                return
        half = len(networks) // 2
        self._add_isolating(networks[:half], budget)
        self._add_isolating(networks[half:], budget)
