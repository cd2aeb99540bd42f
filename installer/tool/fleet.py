"""qmail-f2b's side of the fleet: `fleet check|serve|status`, the fleet's bans beside this host's
(`bans`), and lifting them (`unban`, fleet-wide or with --local this host's own decisions only)."""

from installer.fleet import bouncer, credentials, crowdsec, daemon, spool
from installer.fleet.lapi import Lapi, Unreachable
from installer.shared import addresses, paths
from installer.shared.errors import InstallerError
from installer.shared.run import run
from installer.siteconf import settings as site_settings
from installer.tool.report import Report

NO_FLEET = 3


def configured(root="/"):
    """site.conf's [fleet], or None: no fleet, or no site.conf (a host installed before there was one)."""
    path = paths.under(root, paths.SITE_CONF)
    if not path.exists():
        return None
    return site_settings.load(path).fleet


def connect(fleet):
    password, key = credentials.own(fleet)
    return Lapi(fleet.lapi_url, fleet.name, password, key)


def check(root="/"):
    """Whether this host can take its part in the fleet: exit 0, 1 with the reason, 3 outside a fleet."""
    fleet = configured(root)
    if fleet is None:
        return Report({"fleet": None}, [f"no fleet: {paths.SITE_CONF} has no [fleet] role"], NO_FLEET)
    credentials.own(fleet)
    crowdsec.check_programs(fleet, root)
    return Report({"fleet": fleet.name, "role": fleet.role},
                  [f"{fleet.name} ({fleet.role}) can share bans through {fleet.lapi_url}"])


def serve():
    settings = site_settings.load(paths.SITE_CONF)
    fleet = settings.fleet
    if fleet is None:
        raise InstallerError(f"no fleet to serve: {paths.SITE_CONF} has no [fleet] role")
    never_banned = list(dict.fromkeys(fleet.ignoreip + settings.ignoreip))
    return Report({}, [], daemon.serve(fleet, never_banned))


def decision_rows(decisions):
    """[{value, host, jail, duration}] of the LAPI's decisions, newest-ending last."""
    rows = []
    for decision in decisions:
        parts = str(decision.get("scenario", "")).split("/")
        host, jail = (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "qmail-f2b" else ("?", parts[-1])
        rows.append({"value": decision.get("value"), "host": host, "jail": jail,
                     "duration": decision.get("duration"), "scope": decision.get("scope")})
    return rows


def fleet_bans(fleet):
    """(rows, lines) of the decisions the fleet enforces, for `bans`."""
    try:
        rows = decision_rows(connect(fleet).decisions())
    except InstallerError as error:
        return None, [f"Fleet bans unknown: {error}"]
    by_value = {}
    for row in rows:
        by_value.setdefault(row["value"], []).append(f"{row['host']}/{row['jail']}")
    lines = [f"Banned by the fleet ({len(by_value)}): "
             + " ".join(f"{value} ({', '.join(sorted(set(origins)))})" for value, origins in sorted(by_value.items()))]
    return rows, lines if by_value else ["No IPs are banned by the fleet"]


def lift(fleet, networks, local):
    """Lifts the fleet's decisions on networks (with local: this host's only); (data, lines, status)."""
    dropped = spool.drop(paths.FLEET_SPOOL, networks)
    data, lines, status = {"lifted": {}, "unsent_dropped": dropped}, [], 0
    if dropped:
        lines.append(f"Not published after all: {' '.join(dropped)}")
    try:
        lapi = connect(fleet)
        whose = "this host's" if local else "fleet-wide"
        for network in networks:
            value = addresses.spell(network)
            count = lapi.lift_own(network) if local else lapi.lift(network)
            data["lifted"][value] = count
            if count:
                lines.append(f"Lifted {whose} decisions on {value}: {count}")
        if local:
            others = sorted({f"{row['value']} ({row['host']}/{row['jail']})"
                             for network in networks for row in decision_rows(lapi.decisions(network))})
            if others:
                lines.append("Still banned by other hosts of the fleet, and so by this host's bouncer too: "
                             + " ".join(others))
    except Unreachable as error:
        status = 1
        lines.append(f"The fleet still bans {' '.join(addresses.spell(network) for network in networks)}: {error};"
                     " run the same unban again when it answers")
    return data, lines, status


def bouncer_entries():
    """{set name: entries} of the bouncer's ipsets, or None where they are not there."""
    result = run(["ipset", "list", "-t"], check=False, what="ipset list")
    if result.returncode != 0:
        return None
    counts, current = {}, None
    for line in result.stdout.splitlines():
        if line.startswith("Name: "):
            current = line.split(": ", 1)[1]
        elif line.startswith("Number of entries: ") and current in (bouncer.SET4, bouncer.SET6):
            counts[current] = int(line.split(": ", 1)[1])
    return counts if counts else None


def status(root="/"):
    fleet = configured(root)
    if fleet is None:
        return Report({"fleet": None}, [f"No fleet: {paths.SITE_CONF} has no [fleet] role"], NO_FLEET)
    pid = daemon.running_pid()
    queued = len(spool.pending(paths.FLEET_SPOOL))
    data = {"fleet": fleet.name, "role": fleet.role, "lapi_url": fleet.lapi_url, "daemon_pid": pid,
            "queued": queued, "bouncer_sets": bouncer_entries()}
    lines = [f"Fleet member {fleet.name} ({fleet.role}), Local API {fleet.lapi_url}",
             f"Daemon: {'running (pid %d)' % pid if pid else 'not running: ' + paths.FLEET_RC_SCRIPT + ' start'}",
             f"Bans waiting to be published: {queued}"]
    try:
        rows = decision_rows(connect(fleet).decisions())
        own = [row for row in rows if row["host"] == fleet.name]
        data["decisions"], data["own_decisions"] = len(rows), len(own)
        lines.append(f"Decisions in force: {len(rows)}, {len(own)} of them published by {fleet.name}")
    except InstallerError as error:
        lines.append(f"Decisions unknown: {error}")
    sets = data["bouncer_sets"]
    lines.append("Bouncer sets: " + (", ".join(f"{name} {count} entries" for name, count in sorted(sets.items()))
                                     if sets else "none (the bouncer is not enforcing)"))
    return Report(data, lines)

