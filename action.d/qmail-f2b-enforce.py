# Fail2Ban action of qmail-fail2ban: a ban that does not lapse.
#
# A firewall rule stops new connections, not the ones already open: qmail-smtpd keeps taking
# AUTH after a 535 in the same session, and where the admin's rules accept ESTABLISHED traffic
# before fail2ban's chain a banned client's sessions keep working until the service's own
# timeout (qmail-smtpd: 1200 s). So on every ban this action ends the banned address's TCP
# sessions with this host: the local sockets are closed (ss -K, which needs the kernel's
# sock_diag destroy support) and their conntrack entries removed (conntrack -D). It cuts once at
# once and once more a moment later, for a client that reconnected before a batched firewall
# action (qmail-f2b-set.py) had written the ban. The host's own addresses and ignoreip are never
# cut, whatever the ban says (a manual CIDR ban may cover them).
#
# Reloading the firewall (rc.firewall restart, iptables -F; iptables -X) removes fail2ban's
# chains, and fail2ban only checks them again before its next ban of that jail. This action
# also watches the jail's fail2ban command actions (iptables-multiport and friends): once a
# second it looks whether their chain and its jump from INPUT are still there and, when one
# was there and is gone, has fail2ban put the action back (its own consistency check:
# actionrepair or actionstop + actionstart) and re-bans every current ban of the jail with it.
# qmail-f2b-set.py watches its own sets the same way. It runs inside fail2ban-server as a
# thread of the jail, so it starts and stops with the jail and knows the jail's bans without
# asking anything outside.
#
# Use, after a jail's other actions:
#   action = iptables-multiport[...]
#            qmail-f2b-enforce.py

import collections
import ipaddress
import os
import shutil
import subprocess
import threading
import time

from fail2ban.server.action import ActionBase, CommandAction

TOOL_FOLDERS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin")
COMMAND_TIMEOUT = 30
# The second cut: after a batched firewall action has written the ban (it takes milliseconds).
SECOND_CUT_AFTER = 0.4
WATCH_EVERY = 1.0
# The sockets worth cutting: every TCP state but LISTEN (0A), TIME_WAIT (06) and CLOSE (07).
LIVE_TCP_STATES = {"01", "02", "03", "04", "05", "08", "09", "0B"}
# Every jail's watcher asks for the same listings within the same second: they are shared for
# this long. fail2ban loads this file once per jail into the same module, so the cache is kept
# across those loads (globals() still holds the first one's).
LISTING_FRESH_FOR = 0.5
_LISTINGS = globals().get("_LISTINGS", {})
_LISTINGS_LOCK = globals().get("_LISTINGS_LOCK", threading.Lock())


def tool(name):
    """The tool's path, or None: the server may run with a PATH that lacks the sbin folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in TOOL_FOLDERS:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def run(argv):
    """(exit status, output) of a tool; (None, reason) when it cannot run."""
    path = tool(argv[0])
    if path is None:
        return None, f"{argv[0]} is not installed"
    try:
        result = subprocess.run([path, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as error:
        return None, str(error)
    return result.returncode, result.stdout + result.stderr


def shared_listing(argv):
    """The output of a listing command, taken at most every LISTING_FRESH_FOR seconds; None: failed."""
    key = tuple(argv)
    with _LISTINGS_LOCK:
        taken = _LISTINGS.get(key)
        if taken and time.monotonic() - taken[0] < LISTING_FRESH_FOR:
            return taken[1]
        status, output = run(argv)
        listing = output if status == 0 else None
        _LISTINGS[key] = (time.monotonic(), listing)
        return listing


def proc_address(text):
    """An address as /proc/net/tcp{,6} writes it (32-bit words in host order, little-endian here)."""
    raw = bytes.fromhex(text)
    words = [raw[index:index + 4][::-1] for index in range(0, len(raw), 4)]
    return ipaddress.ip_address(b"".join(words))


def open_sessions():
    """[(local address, peer address)] of this network namespace's live TCP sockets."""
    sessions = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 4 or fields[3] not in LIVE_TCP_STATES:
                continue
            try:
                local = proc_address(fields[1].split(":")[0])
                peer = proc_address(fields[2].split(":")[0])
            except ValueError:
                continue
            sessions.append((local, peer))
    return sessions


def plain(address):
    """An IPv4 client of a dual-stack socket is seen as ::ffff:a.b.c.d: the address on the wire is a.b.c.d."""
    return getattr(address, "ipv4_mapped", None) or address


def ss_address(address):
    """How ss's filter takes an address: IPv6 in brackets, an IPv4-mapped one dotted (as ss prints it)."""
    if address.version == 4:
        return str(address)
    mapped = getattr(address, "ipv4_mapped", None)
    return f"[::ffff:{mapped}]" if mapped else f"[{address}]"


def banned_network(text):
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if getattr(network.network_address, "scope_id", None) is not None:
        return None
    return network


class Enforce(ActionBase):
    def __init__(self, jail, name):
        super().__init__(jail, name)
        self._changed = threading.Condition()
        self._cut_now = set()      # networks whose sessions are to be cut at once
        # (when, network) of the second cuts, in the order they fall due (the delay is the same for all).
        self._cut_later = collections.deque()
        self._stopping = False
        self._thread = None
        self._seen = {}            # (action name, tool, chain) -> whether its chain and jump were there

    # --- fail2ban's calls -------------------------------------------------------------------

    def start(self):
        with self._changed:
            self._stopping = False
        if not (self._thread and self._thread.is_alive()):
            self._thread = threading.Thread(target=self._work, name=f"f2b/enforce.{self._jail.name}", daemon=True)
            self._thread.start()

    def stop(self):
        with self._changed:
            self._stopping = True
            self._cut_now.clear()
            self._cut_later.clear()
            self._changed.notify()
        if self._thread:
            self._thread.join(COMMAND_TIMEOUT)
        self._seen = {}

    def ban(self, aInfo):
        network = banned_network(str(aInfo["ip"]))
        if network is None:
            return
        with self._changed:
            self._cut_now.add(network)
            self._cut_later.append((time.monotonic() + SECOND_CUT_AFTER, network))
            self._changed.notify()

    def unban(self, aInfo):
        pass

    # --- the thread -----------------------------------------------------------------------------

    def _work(self):
        next_watch = time.monotonic() + WATCH_EVERY
        while True:
            with self._changed:
                while not (self._stopping or self._cut_now):
                    now = time.monotonic()
                    due = min(self._cut_later[0][0], next_watch) if self._cut_later else next_watch
                    if due <= now:
                        break
                    self._changed.wait(due - now)
                if self._stopping:
                    return
                networks, self._cut_now = self._cut_now, set()
                now = time.monotonic()
                while self._cut_later and self._cut_later[0][0] <= now:
                    networks.add(self._cut_later.popleft()[1])
            try:
                if networks:
                    self.cut_sessions(networks)
                if time.monotonic() >= next_watch:
                    next_watch = time.monotonic() + WATCH_EVERY
                    self._watch_command_actions()
            except Exception as error:
                # The thread must outlive anything: without it no ban would cut a session again.
                self._logSys.exception("[%s] enforcing bans failed: %s", self._jail.name, error)

    # --- ending sessions --------------------------------------------------------------------------

    def _spared(self, address, own):
        if address.is_loopback or address in own:
            return True
        try:
            from fail2ban.server.ipdns import IPAddr
            return bool(self._jail.filter.inIgnoreIPList(IPAddr(str(address)), log_ignore=False))
        except Exception:
            return False

    def cut_sessions(self, networks):
        """End the sessions whose peer is in one of the networks: ss -K, then conntrack -D."""
        sessions = open_sessions()
        # A peer that is also a local address of some socket is this host talking to itself.
        own = {plain(local) for local, _ in sessions}
        # Single addresses looked up at once: a restore at start brings thousands of them.
        addresses = {network.network_address for network in networks if network.num_addresses == 1}
        wider = [network for network in networks if network.num_addresses > 1]
        peers = {peer for _, peer in sessions
                 if plain(peer) in addresses or any(plain(peer) in network for network in wider)}
        peers = {peer for peer in peers if not self._spared(plain(peer), own)}
        if not peers:
            return
        filter_words = []
        for peer in sorted(peers, key=str):
            filter_words += (["or"] if filter_words else []) + ["dst", ss_address(peer)]
        status, output = run(["ss", "-K", "-t", "-n", "(", *filter_words, ")"])
        if status != 0:
            self._logSys.warning("[%s] ss -K could not close the banned clients' sockets: %s",
                                 self._jail.name, (output or "").strip()[:200])
        for address in sorted({plain(peer) for peer in peers}, key=str):
            # Exit status 1 only says there was no entry left to remove.
            status, output = run(["conntrack", "-D", "-s", str(address)])
            if status is None:
                self._logSys.debug("[%s] conntrack: %s", self._jail.name, output)
        self._logSys.info("[%s] ended the sessions of %s", self._jail.name,
                          ", ".join(sorted({str(plain(peer)) for peer in peers})))

    # --- putting fail2ban's command actions back -----------------------------------------------

    def _command_actions(self):
        actions = self._jail.actions
        for name in list(actions):
            try:
                action = actions[name]
            except KeyError:
                continue
            if isinstance(action, CommandAction) and action.actioncheck:
                yield name, action

    @staticmethod
    def _iptables_chain(action):
        """f2b-NAME for fail2ban's iptables actions (their chain), else None."""
        # fail2ban has already put the jail's name in for <name> when the action reaches the jail.
        start = str(getattr(action, "actionstart", ""))
        name = getattr(action, "name", None)
        if name and "iptables" in start and f"f2b-{name}" in start:
            return f"f2b-{name}"
        return None

    def _watch_command_actions(self):
        for name, action in self._command_actions():
            chain = self._iptables_chain(action)
            if chain is None:
                continue
            lost_families = []
            for tool_name, family in (("iptables", "inet4"), ("ip6tables", "inet6")):
                listing = shared_listing([tool_name, "-w", "-S"])
                if listing is None:
                    continue
                lines = listing.splitlines()
                there = f"-N {chain}" in lines and any(line.endswith(f"-j {chain}") and line.startswith("-A ")
                                                       and f"-A {chain} " not in line for line in lines)
                key = (name, tool_name, chain)
                if self._seen.get(key) and not there:
                    lost_families.append(family)
                self._seen[key] = there
            if lost_families:
                self._put_back(name, action, lost_families)

    def _put_back(self, name, action, families):
        self._logSys.warning("[%s] the firewall lost %s (%s); putting it back with the jail's bans",
                             self._jail.name, name, " and ".join(families))
        # fail2ban's own repair (actionrepair, or actionstop + actionstart) for each started family.
        action.consistencyCheck()
        actions = self._jail.actions
        count = 0
        for ticket in list(actions.banManager):
            info = actions._getActionInfo(ticket)
            if info.get("family", "") not in families:
                continue
            try:
                action.reban(info)
                count += 1
            except Exception as error:
                self._logSys.error("[%s] re-banning %s with %s failed: %s", self._jail.name,
                                   ticket.getID(), name, error)
                continue
            # The consistency check made every ticket due for a re-ban at its next failure:
            # it has just had it, and a second rule would outlive the unban.
            ticket.banEpoch = actions.banEpoch
            if not actions.banManager._inBanList(ticket):
                # Unbanned meanwhile by fail2ban's own thread: take the rule back out.
                action.unban(info)
        self._logSys.notice("[%s] %s is back with %d ban(s)", self._jail.name, name, count)
        # Seen again at once, so that a failed repair is tried again at the next look.
        for key in list(self._seen):
            if key[0] == name:
                self._seen[key] = True


Action = Enforce
