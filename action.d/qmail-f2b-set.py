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
# Use, in a jail (options in brackets; all are optional):
#   action = qmail-f2b-set.py[firewall=nftables, port="25,587", protocol=tcp, blocktype=reject]
#
#   firewall   nftables (table inet qmail-f2b-JAIL) or ipset (sets qf2b4-JAIL and qf2b6-JAIL,
#              matched by iptables/ip6tables rules in INPUT marked with the comment qmail-f2b:JAIL)
#   port       ports or ranges (25,587 or 1000:2000); empty or absent: every port
#   protocol   tcp or udp
#   blocktype  reject or drop
#
# IPv4 and IPv6 addresses and CIDR networks (qmail-f2b ban 192.0.2.0/24) are all accepted.

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import threading

from fail2ban.server.action import ActionBase

JAIL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# ipset names hold at most 31 characters; "qf2b4-" takes 6 of them.
LONGEST_JAIL_NAME = 25
PORT = re.compile(r"\d{1,5}(:\d{1,5})?|[a-z][a-z0-9-]*")
TOOL_FOLDERS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin")
COMMAND_TIMEOUT = 120


class FirewallError(Exception):
    pass


def tool(name):
    """The firewall tool's path: the server may run with a PATH that lacks the sbin folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in TOOL_FOLDERS:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise FirewallError(f"{name} is not installed")


def command(argv, input=None, check=True):
    try:
        result = subprocess.run([tool(argv[0]), *argv[1:]], input=input, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise FirewallError(f"{shlex.join(argv)} did not finish within {COMMAND_TIMEOUT} s") from None
    if check and result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0]
        raise FirewallError(f"{shlex.join(argv)} failed (exit {result.returncode}): {reason}")
    return result


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
        ports = tuple(item.strip() for item in port.split(",") if item.strip())
        for item in ports:
            if not PORT.fullmatch(item):
                raise ValueError(f"qmail-f2b-set: {item!r} is not a port, a port range (1000:2000) or a service name")
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"qmail-f2b-set: protocol must be tcp or udp, not {protocol!r}")
        if blocktype not in ("reject", "drop"):
            raise ValueError(f"qmail-f2b-set: blocktype must be reject or drop, not {blocktype!r}")
        self.jail, self.firewall, self.ports = jail, firewall, ports
        self.protocol, self.blocktype = protocol, blocktype

    def key(self):
        return (self.firewall, self.ports, self.protocol, self.blocktype)


def is_single(network):
    return network.prefixlen == network.max_prefixlen


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

    def create(self):
        definition = [f"add table {self.table}", f"delete table {self.table}", f"table {self.table} {{"]
        for version in (4, 6):
            definition += [f"  set addr{version} {{ type ipv{version}_addr; }}",
                           f"  set net{version} {{ type ipv{version}_addr; flags interval; }}"]
        definition += ["  chain input {", "    type filter hook input priority -1; policy accept;"]
        definition += [f"    {rule}" for rule in self._rules()]
        definition += ["  }", "}"]
        # Adding, deleting and defining the table in one transaction clears whatever a killed
        # server left behind, and fails as a whole if anything in it is wrong.
        command(["nft", "-f", "-"], input="\n".join(definition) + "\n")

    def remove(self):
        command(["nft", "delete", "table", *self.table.split()], check=False)

    def update(self, before, after):
        lines = []
        for version in (4, 6):
            old = {net for net in before if net.version == version}
            new = {net for net in after if net.version == version}
            old_addresses = {net for net in old if is_single(net)}
            new_addresses = {net for net in new if is_single(net)}
            lines += self._changes(f"addr{version}", old_addresses, new_addresses, lambda net: net.network_address)
            old_nets, new_nets = old - old_addresses, new - new_addresses
            if old_nets != new_nets:
                lines += self._changes(f"net{version}", set(ipaddress.collapse_addresses(old_nets)),
                                       set(ipaddress.collapse_addresses(new_nets)), str)
        if lines:
            command(["nft", "-f", "-"], input="\n".join(lines) + "\n")

    def _changes(self, set_name, old, new, shown):
        # Deletions first: a network leaving the union may be replaced by a larger one.
        lines = []
        for verb, elements in (("delete", old - new), ("add", new - old)):
            if elements:
                lines.append(f"{verb} element {self.table} {set_name} "
                             f"{{ {', '.join(str(shown(net)) for net in sorted(elements))} }}")
        return lines


class Ipset:
    """hash:net ipsets per family (they hold addresses and overlapping networks alike), each matched
    by one rule in INPUT that carries a comment naming the jail, so that it can always be found."""

    FAMILIES = ((4, "iptables", "inet"), (6, "ip6tables", "inet6"))

    def __init__(self, settings):
        self.settings = settings
        self.comment = f"qmail-f2b:{settings.jail}"

    def set_name(self, version):
        return f"qf2b{version}-{self.settings.jail}"

    def _rule(self, version):
        rule = ["-p", self.settings.protocol]
        if self.settings.ports:
            rule += ["-m", "multiport", "--dports", ",".join(self.settings.ports)]
        rule += ["-m", "set", "--match-set", self.set_name(version), "src",
                 "-m", "comment", "--comment", self.comment,
                 "-j", "REJECT" if self.settings.blocktype == "reject" else "DROP"]
        return rule

    def _remove_rules(self):
        for _, iptables, _ in self.FAMILIES:
            listing = command([iptables, "-w", "-S", "INPUT"], check=False).stdout
            for line in listing.splitlines():
                rule = shlex.split(line)
                if rule[:2] == ["-A", "INPUT"] and self.comment in rule:
                    command([iptables, "-w", "-D", "INPUT", *rule[2:]], check=False)

    def create(self):
        self._remove_rules()
        for version, _, _ in self.FAMILIES:
            command(["ipset", "destroy", self.set_name(version)], check=False)
        command(["ipset", "restore"], input="".join(
            f"create {self.set_name(version)} hash:net family {family} maxelem 1048576\n"
            for version, _, family in self.FAMILIES))
        for version, iptables, _ in self.FAMILIES:
            command([iptables, "-w", "-I", "INPUT", *self._rule(version)])

    def remove(self):
        self._remove_rules()
        for version, _, _ in self.FAMILIES:
            command(["ipset", "destroy", self.set_name(version)], check=False)

    def update(self, before, after):
        lines = [f"del {self.set_name(net.version)} {net}" for net in sorted(before - after, key=str)]
        lines += [f"add {self.set_name(net.version)} {net}" for net in sorted(after - before, key=str)]
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
        self._applied = set()       # networks present in the firewall
        self._changed = threading.Condition()
        self._pending = False
        self._stopping = False
        self._writing = threading.Lock()
        self._writer = None

    # --- fail2ban's calls -------------------------------------------------------------------

    def start(self):
        with self._writing:
            self._firewall.create()
            self._applied = set()
        self._stopping = False
        self._writer = threading.Thread(target=self._write_changes, name=f"f2b/set.{self._jail.name}", daemon=True)
        self._writer.start()
        self._wake()

    def stop(self):
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._writer:
            self._writer.join(COMMAND_TIMEOUT)
        with self._writing:
            self._firewall.remove()
            self._applied = set()

    def ban(self, aInfo):
        network = self._network(aInfo)
        with self._changed:
            self._banned.add(network)
        self._wake()

    def unban(self, aInfo):
        network = self._network(aInfo)
        with self._changed:
            self._banned.discard(network)
        self._wake()

    def flush(self):
        """Every ban lifted at once (fail2ban-client unban --all, and at stop): one batch."""
        with self._changed:
            self._banned.clear()
        self._bring_up_to_date()
        return True

    def clearAllParams(self):
        # Its presence tells fail2ban to keep this action and call reload() on a reload,
        # instead of replacing it with a new one that would drop the sets' contents.
        pass

    def reload(self, **options):
        settings = Settings(self._jail.name, **options)
        if settings.key() == self._settings.key():
            return
        with self._writing:
            self._firewall.remove()
            self._settings = settings
            self._firewall = FIREWALLS[settings.firewall](settings)
            self._firewall.create()
            self._applied = set()
        self._wake()

    # --- the writer ---------------------------------------------------------------------------

    @staticmethod
    def _network(aInfo):
        try:
            return ipaddress.ip_network(str(aInfo["ip"]), strict=False)
        except ValueError:
            raise ValueError(f"qmail-f2b-set bans IP addresses and networks only, not {aInfo['ip']!r}") from None

    def _wake(self):
        with self._changed:
            self._pending = True
            self._changed.notify()

    def _write_changes(self):
        while True:
            with self._changed:
                while not (self._pending or self._stopping):
                    self._changed.wait()
                if self._stopping:
                    return
                self._pending = False
            self._bring_up_to_date()

    def _bring_up_to_date(self):
        with self._writing:
            with self._changed:
                wanted = set(self._banned)
            if wanted == self._applied:
                return
            try:
                self._firewall.update(self._applied, wanted)
            except FirewallError as error:
                self._logSys.error("[%s] updating the firewall sets failed: %s; re-creating them",
                                   self._jail.name, error)
                try:
                    self._firewall.create()
                    self._applied = set()
                    self._firewall.update(set(), wanted)
                except FirewallError as again:
                    self._logSys.error("[%s] re-creating the firewall sets failed too: %s", self._jail.name, again)
                    return
            self._applied = wanted
