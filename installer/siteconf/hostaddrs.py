"""This host's own addresses, which no jail may ever ban (fail2ban 1.0's ignoreself only knows the
addresses its host name resolves to)."""

import ipaddress
import shutil

from installer.shared.run import run


def own_addresses():
    """The global and site addresses of every interface, as `ip -o addr show` lists them."""
    if not shutil.which("ip"):
        return []
    result = run(["ip", "-o", "addr", "show"], check=False, what="listing this host's addresses")
    found = []
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6"):
            address = ipaddress.ip_interface(words[3]).ip
            if not (address.is_loopback or address.is_link_local) and str(address) not in found:
                found.append(str(address))
    return found
