"""qmail-f2b report: what fail2ban banned over the last days, from its own database.

The database (sqlite, the `bans` table: one row per ban, expired ones included until dbpurgeage)
is opened read-only, so a running server is never disturbed. One SQL aggregation counts the bans
per jail and address; its rows (one per distinct pair) are folded into jails, addresses and
networks here, since sqlite knows nothing of addresses.
"""

import ipaddress
import sqlite3
import time
from pathlib import Path

from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.tool import mail
from installer.tool.report import Report

TOP = 10
NETWORK_PREFIX = {4: 24, 6: 48}


def database_of(client, root="/"):
    """The database fail2ban's configuration names (dbfile), else its default."""
    try:
        dbfile = str(client.configuration().server("dbfile", paths.FAIL2BAN_DB))
    except InstallerError:
        dbfile = paths.FAIL2BAN_DB
    if dbfile in ("None", ":memory:"):
        raise InstallerError(f"fail2ban keeps no database (dbfile = {dbfile}): there are no past bans to report")
    return paths.under(root, dbfile)


def _network(address):
    # fail2ban stores addresses as ipaddress spells them: a dotted quad's /24 is plain text work,
    # several times quicker than parsing each of a large database's addresses.
    head, dot, last = address.rpartition(".")
    if dot and ":" not in address and "/" not in address and last.isdigit() and head.count(".") == 2:
        return f"{head}.0/24"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        # A range banned by hand (198.51.100.0/24) stands for itself.
        try:
            return str(ipaddress.ip_network(address, strict=False))
        except ValueError:
            return address
    return str(ipaddress.ip_network(f"{parsed}/{NETWORK_PREFIX[parsed.version]}", strict=False))


def gather(database, days, now=None):
    """The report's figures for bans given in the last `days` days."""
    database = Path(database)
    if not database.is_file():
        raise InstallerError(f"{database} does not exist: fail2ban has not banned anything yet")
    since = int((time.time() if now is None else now) - days * 86400)
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as error:
        raise InstallerError(f"cannot open {database}: {error}") from None
    try:
        # One pass over the table: a plain scan beats the indexes, since the days asked for hold most
        # rows and each index entry would cost a lookup of its row.
        rows = connection.execute(
            "SELECT jail, ip, count(*) FROM bans NOT INDEXED WHERE timeofban >= ? GROUP BY jail, ip",
            (since,)).fetchall()
    except sqlite3.Error as error:
        raise InstallerError(f"cannot read the bans in {database}: {error}") from None
    finally:
        connection.close()
    jails, addresses = {}, {}
    for jail, address, count in rows:
        per_jail = jails.setdefault(jail, [0, 0])
        per_jail[0] += count
        per_jail[1] += 1
        per_address = addresses.setdefault(address, [0, []])
        per_address[0] += count
        per_address[1].append(jail)
    per_jail = sorted(((jail, bans, count) for jail, (bans, count) in jails.items()), key=lambda row: (-row[1], row[0]))
    per_address = sorted(((address, bans, sorted(names)) for address, (bans, names) in addresses.items()),
                         key=lambda row: (-row[1], row[0]))
    networks = {}
    for address, count, _ in per_address:
        entry = networks.setdefault(_network(address), [0, 0])
        entry[0] += count
        entry[1] += 1
    top_networks = sorted(networks.items(), key=lambda item: (-item[1][0], item[0]))[:TOP]
    repeat = [row for row in per_address if row[1] > 1]
    return {
        "database": str(database), "days": days, "since": since,
        "bans": sum(row[1] for row in per_jail), "addresses": len(per_address),
        "jails": [{"jail": jail, "bans": bans, "addresses": addresses} for jail, bans, addresses in per_jail],
        "top_addresses": [{"address": address, "bans": count, "jails": names}
                          for address, count, names in per_address[:TOP]],
        "top_networks": [{"network": network, "bans": bans, "addresses": addresses}
                         for network, (bans, addresses) in top_networks],
        "repeat_offenders": len(repeat),
        "top_repeat_offenders": [{"address": address, "bans": count, "jails": names}
                                 for address, count, names in repeat[:TOP]],
    }


def text_of(data):
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(data["since"]))
    lines = [f"Bans in the last {data['days']} days (since {since}): {data['bans']} bans of"
             f" {data['addresses']} addresses; {data['repeat_offenders']} addresses banned more than once"]
    if not data["bans"]:
        return lines
    lines += ["", "Per jail:"]
    lines += [f"  {row['jail']:<20} {row['bans']:>8} bans  {row['addresses']:>8} addresses" for row in data["jails"]]
    lines += ["", f"Top {TOP} addresses:"]
    lines += [f"  {row['address']:<40} {row['bans']:>6} bans  ({', '.join(row['jails'])})"
              for row in data["top_addresses"]]
    lines += ["", f"Top {TOP} networks (/24, /48):"]
    lines += [f"  {row['network']:<40} {row['bans']:>6} bans  {row['addresses']:>6} addresses"
              for row in data["top_networks"]]
    if data["top_repeat_offenders"]:
        lines += ["", "Repeat offenders (banned again after a ban):"]
        lines += [f"  {row['address']:<40} {row['bans']:>6} bans  ({', '.join(row['jails'])})"
                  for row in data["top_repeat_offenders"]]
    return lines


def report(client, days=7, send=False, root="/"):
    data = gather(database_of(client, root), days)
    lines = text_of(data)
    if send:
        dest = mail.send(f"bans of the last {days} days", "\n".join(lines) + "\n", root)
        return Report({**data, "mailed": dest}, [f"mailed the report to {dest}"])
    return Report(data, lines)
