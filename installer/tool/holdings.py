"""What the firewall really holds for each jail, read from the firewall itself, beside what
fail2ban believes it banned.

fail2ban counts a ban as done once its action returned; a flushed chain, a deleted set or a
firewall reloaded by hand leaves fail2ban's list intact and the addresses free. Each firewall
action our jails may use keeps its bans in its own place:

    iptables-multiport, iptables-allports ...   chain f2b-NAME (iptables and ip6tables), one rule per ban
    nftables-multiport, nftables-allports ...   sets addr-set-NAME, addr6-set-NAME in table inet f2b-table
    iptables-ipset-proto6 ...                   ipsets f2b-NAME and f2b-NAME6
    qmail-f2b-set.py[firewall=nftables]         sets addr4, net4, addr6, net6 in table inet qmail-f2b-JAIL
    qmail-f2b-set.py[firewall=ipset]            ipsets qf2b4-JAIL and qf2b6-JAIL

NAME is the action's name option, the jail's name unless the jail says otherwise.
"""

import ipaddress
import json
from dataclasses import dataclass, field

from installer.shared import firewall
from installer.shared.run import last_meaningful_line, run

SET_ACTION = "qmail-f2b-set"
# What a missing table or set sounds like to nft and ipset: nothing is held there (yet), which is no
# failure of the firewall itself (fail2ban creates them at the first ban). A refusal (no NET_ADMIN)
# sounds otherwise and makes the jail unreadable, not empty.
ABSENT = ("does not exist", "No such file or directory")
TIMEOUT = 30


@dataclass
class Store:
    """One place a jail's bans are kept: family is the firewall (iptables, nftables or ipset),
    tool the program that reads it, names what it reads (chains, or (table, set) pairs, or sets)."""
    family: str
    action: str
    description: str
    names: list = field(default_factory=list)


@dataclass
class Holding:
    """What the firewall holds for one jail, against fail2ban's bans."""
    jail: str
    stores: list
    held: list = None            # networks the firewall holds; None when it could not be read
    banned: list = field(default_factory=list)
    missing: list = field(default_factory=list)   # bans no held network covers
    problem: str = None

    @property
    def where(self):
        return "; ".join(store.description for store in self.stores)

    def says(self, one, many):
        """The verb for `where`: one chain holds, several sets hold."""
        return many if sum(len(store.names) for store in self.stores) > 1 else one


def stores_of(configuration, jail):
    """The places the jail's firewall actions keep its bans (empty: no firewall action we know)."""
    found = []
    for action in configuration.actions(jail):
        options = configuration.action_options(jail, action)
        name = str(options.get("name", jail))
        if action == SET_ACTION:
            if options.get("firewall", "nftables") == "ipset":
                found.append(Store("ipset", action, f"ipsets qf2b4-{jail}, qf2b6-{jail}",
                                   [f"qf2b4-{jail}", f"qf2b6-{jail}"]))
            else:
                table = f"qmail-f2b-{jail}"
                found.append(Store("nftables", action, f"nftables sets addr4, net4, addr6, net6 of table inet {table}",
                                   [(table, kind) for kind in ("addr4", "net4", "addr6", "net6")]))
        elif action.startswith("iptables-ipset"):
            found.append(Store("ipset", action, f"ipsets f2b-{name}, f2b-{name}6", [f"f2b-{name}", f"f2b-{name}6"]))
        elif action.startswith("iptables"):
            found.append(Store("iptables", action, f"iptables chain f2b-{name}", [f"f2b-{name}"]))
        elif action.startswith("nftables"):
            table = str(options.get("table", "f2b-table"))
            found.append(Store("nftables", action, f"nftables sets addr-set-{name}, addr6-set-{name} of table"
                                                   f" inet {table}",
                               [(table, f"addr-set-{name}"), (table, f"addr6-set-{name}")]))
    return found


def families(configuration):
    """{firewall family: [jails]} of the enabled jails; ipset also needs iptables to match its sets."""
    used = {}
    for jail in configuration.jails():
        for store in stores_of(configuration, jail):
            used.setdefault(store.family, [])
            if jail not in used[store.family]:
                used[store.family].append(jail)
    return used


class Unreadable(Exception):
    pass


def _listing(root, tool_name, *arguments):
    """The tool's output; '' where what it lists does not exist; Unreadable when the tool fails."""
    tool = firewall.find_tool(root, tool_name)
    if tool is None:
        raise Unreadable(f"{tool_name} is not installed")
    result = run([tool, *arguments], check=False, timeout=TIMEOUT)
    if result.returncode == 0:
        return result.stdout
    if any(sign in result.stderr for sign in ABSENT):
        return ""
    raise Unreadable(f"{tool_name} {' '.join(arguments)}: {last_meaningful_line(result.stderr) or 'failed'}")


def _iptables_entries(root, chain, listings):
    """The sources of the chain's rules in iptables and ip6tables. The whole filter table is listed
    (once per reading, kept in listings): iptables-nft refuses to list a chain that does not exist
    yet as "incompatible", which would hide a real refusal."""
    entries = []
    for tool_name in ("iptables", "ip6tables"):
        if tool_name == "ip6tables" and firewall.find_tool(root, tool_name) is None:
            continue
        if tool_name not in listings:
            listings[tool_name] = _listing(root, tool_name, "-w", "-S").splitlines()
        for line in listings[tool_name]:
            words = line.split()
            if words[:2] == ["-A", chain] and "-s" in words:
                entries.append(words[words.index("-s") + 1])
    return entries


def _nft_element(element):
    """An nft JSON set element as text: an address, a prefix, a range (as its first address's
    network would be too narrow, a range is held as the addresses it spans) or an element with a timeout."""
    if isinstance(element, str):
        return [element]
    if "elem" in element:
        return _nft_element(element["elem"]["val"])
    if "prefix" in element:
        return [f"{element['prefix']['addr']}/{element['prefix']['len']}"]
    if "range" in element:
        low, high = (ipaddress.ip_address(end) for end in element["range"])
        return [str(network) for network in ipaddress.summarize_address_range(low, high)]
    return []


def _nft_entries(root, table, set_name):
    text = _listing(root, "nft", "-j", "list", "set", "inet", table, set_name)
    if not text.strip():
        return []
    entries = []
    for item in json.loads(text).get("nftables", []):
        for element in item.get("set", {}).get("elem", []):
            entries += _nft_element(element)
    return entries


def _ipset_entries(root, name):
    text = _listing(root, "ipset", "list", name)
    members = text.split("Members:\n", 1)[1] if "Members:\n" in text else ""
    # A member line may go on with options (timeout 600).
    return [line.split()[0] for line in members.splitlines() if line.strip()]


def entries_of(root, store, listings):
    if store.family == "iptables":
        return [entry for chain in store.names for entry in _iptables_entries(root, chain, listings)]
    if store.family == "nftables":
        return [entry for table, set_name in store.names for entry in _nft_entries(root, table, set_name)]
    return [entry for name in store.names for entry in _ipset_entries(root, name)]


def _network(text):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def uncovered(banned, held):
    """The bans (as fail2ban spells them) that no held network covers."""
    exact = set(held)
    ranges = [network for network in exact if network.prefixlen < network.max_prefixlen]
    missing = []
    for ban in banned:
        network = _network(ban)
        if network in exact:
            continue
        if network is None or not any(network.version == wider.version and network.subnet_of(wider)
                                      for wider in ranges):
            missing.append(ban)
    return missing


def holding(root, configuration, jail, banned, listings=None):
    """What the firewall holds for the jail, against the bans fail2ban lists for it."""
    stores = stores_of(configuration, jail)
    found = Holding(jail, stores, banned=list(banned))
    if not stores:
        return found
    try:
        texts = [entry for store in stores for entry in entries_of(root, store, {} if listings is None else listings)]
    except (Unreadable, ValueError) as error:
        found.problem = str(error)
        return found
    found.held = [network for network in map(_network, texts) if network is not None]
    found.missing = uncovered(found.banned, found.held)
    return found


def holdings(root, configuration, banned):
    """{jail: Holding} for every enabled jail, given fail2ban's {jail: [bans]}."""
    listings = {}
    return {jail: holding(root, configuration, jail, banned.get(jail, []), listings) for jail in configuration.jails()}
