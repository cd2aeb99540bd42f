"""The firewall tools under a root, and which of them can list the rules: what banaction = auto goes by."""

import os
from pathlib import Path

from installer.shared.run import run

TOOL_FOLDERS = ("usr/sbin", "sbin", "usr/local/sbin", "usr/bin", "bin", "usr/local/bin")

# A harmless listing per backend: it succeeds only where the tool can talk to the kernel.
PROBES = {
    "iptables": ("iptables", "-S"),
    "nftables": ("nft", "list", "ruleset"),
}


def find_tool(root, name):
    """The executable `name` in root's usual tool folders, or None."""
    for folder in TOOL_FOLDERS:
        path = Path(root) / folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def listing_firewalls(root):
    """The firewalls ("iptables", "nftables") whose tool is under root and lists the rules."""
    working = []
    for firewall, (tool, *arguments) in PROBES.items():
        path = find_tool(root, tool)
        if path and run([path, *arguments], check=False, timeout=30).returncode == 0:
            working.append(firewall)
    return working
