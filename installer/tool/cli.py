"""The command line of qmail-f2b: parses the arguments, runs one command, and prints what it
returns once, as text or (--json) as JSON."""

import argparse
import json
import sys

from installer.shared.command_line import OneLineParser, run_command
from installer.shared.errors import InstallerError
from installer.siteconf.jails import MANUAL_JAIL


def line_count(text):
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines")
    return int(text)


def day_count(text):
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= 36500):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (1 or more)")
    return int(text)


def build_parser(prog):
    parser = OneLineParser(prog=prog, description="See and manage fail2ban's bans on a qmail mail host.")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    # SUPPRESS: a --json given before the command is not undone by the command's own default.
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    commands.add_parser("bans", parents=[as_json], help="every banned address, per jail (the default)")
    status = commands.add_parser("status", parents=[as_json], help="failures, bans and log files per jail")
    status.add_argument("jail", nargs="?", help="one jail (default: all)")
    ban = commands.add_parser("ban", parents=[as_json], help=f"ban addresses or ranges in the {MANUAL_JAIL} jail")
    ban.add_argument("addresses", nargs="+", metavar="IP|CIDR")
    ban.add_argument("--force", action="store_true", help="allow a range wider than /16 (IPv4) or /48 (IPv6)")
    unban = commands.add_parser("unban", parents=[as_json],
                                help="lift bans from every jail, and in a fleet the fleet's decisions too")
    unban.add_argument("addresses", nargs="+", metavar="IP|CIDR")
    unban.add_argument("--local", action="store_true",
                       help="in a fleet: lift this host's bans and decisions only, not other hosts'")
    log = commands.add_parser("log", parents=[as_json], help="the end of fail2ban's log")
    log.add_argument("-n", "--lines", type=line_count, default=50, metavar="N", help="lines to show (default 50)")
    log.add_argument("-f", "--follow", action="store_true", help="keep showing lines as they are written")
    doctor = commands.add_parser("doctor", parents=[as_json],
                                 help="check what stands between this host and working bans")
    doctor.add_argument("--nagios", action="store_true",
                        help="as a Nagios/Icinga plugin: one status line with perfdata, exit 0/1/2/3")
    metrics = commands.add_parser("metrics", parents=[as_json], help="fail2ban's state for Prometheus")
    metrics.add_argument("--textfile", metavar="DIR",
                         help="write DIR/qmail_f2b.prom for node_exporter's textfile collector")
    commands.add_parser("watchdog", parents=[as_json],
                        help="start fail2ban and mail the admin when it stopped answering (run by cron)")
    report = commands.add_parser("report", parents=[as_json], help="bans per jail, top addresses and networks")
    report.add_argument("--days", type=day_count, default=7, metavar="N", help="the last N days (default 7)")
    report.add_argument("--mail", action="store_true", help="mail it to the admin (site.conf's dest)")
    fleet = commands.add_parser("fleet", parents=[as_json], help="the bans shared with other hosts (site.conf [fleet])")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", parser_class=OneLineParser, required=True)
    fleet_commands.add_parser("status", parents=[as_json], help="the daemon, the Local API and the bouncer")
    fleet_commands.add_parser("check", parents=[as_json], help="whether this host can take its part (exit 3: no fleet)")
    fleet_commands.add_parser("serve", help="run the fleet daemon (rc.qmail-f2b-fleet starts it)")
    return parser


def report_of(args, client):
    from installer.tool import commands
    if args.command == "fleet":
        from installer.tool import fleet
        return {"status": fleet.status, "check": fleet.check, "serve": fleet.serve}[args.fleet_command]()
    if args.command == "doctor":
        from installer.tool.doctor import doctor, nagios
        return nagios(client) if args.nagios else doctor(client)
    if args.command == "metrics":
        from installer.tool.metrics import metrics
        return metrics(client, args.textfile)
    if args.command == "watchdog":
        from installer.tool.watchdog import watchdog
        return watchdog(client)
    if args.command == "report":
        from installer.tool.banreport import report
        return report(client, args.days, send=args.mail)
    if args.command == "status":
        return commands.status(client, args.jail)
    if args.command == "ban":
        return commands.ban(client, args.addresses, force=args.force)
    if args.command == "unban":
        return commands.unban(client, args.addresses, local=args.local)
    if args.command == "log":
        if args.follow and args.json:
            raise InstallerError("log: --json and --follow do not go together")
        return commands.log(client, args.lines)
    return commands.bans(client)


def run(args):
    from installer.shared.fail2ban import Client
    from installer.tool import logtail
    report = report_of(args, Client())
    if args.json:
        print(json.dumps(report.data, indent=2))
    elif report.lines:
        print("\n".join(report.lines), flush=True)
    if getattr(args, "follow", False):
        try:
            logtail.follow(report.data["log"], lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            return 0
    return report.status


def run_plugin(args):
    """A Nagios plugin that cannot check says UNKNOWN (exit 3), on its one line, whatever went wrong."""
    try:
        return run(args)
    except Exception as error:  # noqa: BLE001 - the plugin convention wants every failure as UNKNOWN
        print(f"QMAIL-F2B UNKNOWN - {error}")
        return 3


def main(argv=None, prog="qmail-f2b"):
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, "nagios", False):
        return run_plugin(args)
    return run_command(prog, lambda: run(args))
