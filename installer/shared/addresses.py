"""What qmail-f2b accepts as an address to ban or unban, and the rules that keep a ban from
locking out the admin or the host itself."""

import ipaddress

from installer.shared.errors import InstallerError

# Always among the addresses never banned, whatever ignoreip says.
LOOPBACK = ("127.0.0.0/8", "::1")

# A range wider than this is refused unless the admin says --force: a slip in a prefix length
# (/8 for /28) would shut out a large part of the Internet.
WIDEST_PREFIX = {4: 16, 6: 48}

_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")

# Networks whose addresses never reach a server straight from the Internet: a client seen with one
# of them came through a NAT gateway or a port forwarder on the way. ipaddress's is_private also
# counts the documentation ranges, which are public in every sense that matters here.
NON_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    *LOOPBACK, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "fc00::/7", "fe80::/10"))


def parse(text):
    """The network an argument names: 192.0.2.7, 192.0.2.0/24, 2001:db8::/48 (an address is a /32 or /128).

    IPv4 addresses written the IPv6 way (::ffff:192.0.2.7) become plain IPv4, as the firewall sees them.
    """
    given = text.strip()
    if not given or "%" in given:
        raise InstallerError(f"{text!r} is not an IP address or CIDR range (like 192.0.2.7 or 192.0.2.0/24)")
    try:
        network = ipaddress.ip_network(given, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(given, strict=False)
        except ValueError:
            raise InstallerError(f"{text!r} is not an IP address or CIDR range"
                                 " (like 192.0.2.7 or 192.0.2.0/24)") from None
        raise InstallerError(f"{given} has address bits set after the /{loose.prefixlen}:"
                             f" did you mean {loose}?") from None
    if network.version == 6 and network.subnet_of(_IPV4_MAPPED):
        network = ipaddress.ip_network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def spell(network):
    """192.0.2.7 for a single address, 192.0.2.0/24 for a range: how fail2ban lists them."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def too_wide(network):
    return network.prefixlen < WIDEST_PREFIX[network.version]


def networks(entries):
    """The networks among fail2ban's ignoreip entries; host names there cannot be compared and are left out."""
    found = []
    for entry in entries:
        try:
            found.append(parse(entry))
        except InstallerError:
            try:
                found.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                continue
    return found


def overlap(network, others):
    """The first of others that shares an address with network, or None."""
    return next((other for other in others
                 if other.version == network.version and network.overlaps(other)), None)


def ssh_client(environ):
    """The address the admin's SSH session comes from (SSH_CLIENT="ADDRESS PORT PORT"), or None."""
    fields = environ.get("SSH_CLIENT", "").split()
    if not fields:
        return None
    try:
        return parse(fields[0])
    except InstallerError:
        return None


def check_width(network, force=False):
    if too_wide(network) and not force:
        raise InstallerError(f"refusing to ban {spell(network)}: it is wider than"
                             f" /{WIDEST_PREFIX[network.version]}; add --force if you really mean it")


def check_bannable(network, ignored, admin=None, force=False):
    """Raise, with the reason in one line, when banning network could lock out the wrong people."""
    check_width(network, force)
    shown = spell(network)
    hit = overlap(network, ignored)
    if hit is not None:
        raise InstallerError(f"refusing to ban {shown}: it overlaps {spell(hit)}, which ignoreip says"
                             " never to ban")
    if admin is not None and overlap(network, [admin]) is not None:
        raise InstallerError(f"refusing to ban {shown}: your SSH session comes from {spell(admin)}"
                             " (SSH_CLIENT)")


def is_public(address):
    network = parse(address) if isinstance(address, str) else address
    return overlap(network, NON_PUBLIC) is None
