"""The command line of ./install and qmail-f2b."""

import argparse
import logging
import re
import sys

from installer.errors import InstallerError


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line and exit status 2, like every other error here."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def install_arguments(parser):
    parser.add_argument("--tarball", metavar="FILE", help="fail2ban-X.Y.Z.tar.gz as upstream publishes it "
                        "(default: the newest in /usr/local/src)")
    parser.add_argument("--sha256", metavar="HEX", help="the digest upstream publishes for the tarball")
    parser.add_argument("--pyinotify-tarball", metavar="FILE", help="pyinotify-X.Y.Z.tar.gz as PyPI publishes it, "
                        "for the fast log backend (default: the newest in /usr/local/src, if any)")
    parser.add_argument("--pyinotify-sha256", metavar="HEX", help="the digest PyPI publishes for that tarball")
    parser.add_argument("--root", metavar="DIR", help="stage everything under DIR; root is not needed")
    parser.add_argument("--config", metavar="FILE", help="site configuration to use instead of asking")
    parser.add_argument("--python", metavar="PATH", help="the Python fail2ban runs on (default: the system's)")
    parser.add_argument("--yes", action="store_true", help="take the defaults without asking")
    parser.add_argument("--dry-run", action="store_true", help="print every step and file; change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only errors and files to review")
    parser.add_argument("--verbose", action="store_true", help="log every command run")
    parser.add_argument("--uninstall", action="store_true", help="remove what an earlier install wrote")


def line_count(text):
    # ASCII digits only: isdigit() takes "²", which int() refuses.
    if not re.fullmatch(r"[0-9]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines")
    return int(text)


def management_parsers(commands):
    # SUPPRESS: a --json given before the command is not undone by the command's own default.
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    commands.add_parser("bans", parents=[as_json], help="every banned address, per jail (the default)")
    status = commands.add_parser("status", parents=[as_json], help="failures, bans and log files per jail")
    status.add_argument("jail", nargs="?", help="one jail (default: all)")
    ban = commands.add_parser("ban", parents=[as_json], help="ban addresses or ranges in the custom jail")
    ban.add_argument("addresses", nargs="+", metavar="IP|CIDR")
    ban.add_argument("--force", action="store_true", help="allow a range wider than /16 (IPv4) or /48 (IPv6)")
    unban = commands.add_parser("unban", parents=[as_json], help="lift bans from every jail")
    unban.add_argument("addresses", nargs="+", metavar="IP|CIDR")
    log = commands.add_parser("log", parents=[as_json], help="the end of fail2ban's log")
    log.add_argument("-n", "--lines", type=line_count, default=50, metavar="N", help="lines to show (default 50)")
    log.add_argument("-f", "--follow", action="store_true", help="keep showing lines as they are written")
    commands.add_parser("doctor", parents=[as_json], help="check what stands between this host and working bans")


def build_parser(prog):
    parser = OneLineParser(prog=prog, description="Install and manage fail2ban on a qmail mail host.")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    install_arguments(commands.add_parser("install", help="build and install fail2ban from a release tarball"))
    management_parsers(commands)
    return parser


def run_install(args):
    if args.uninstall:
        from installer.uninstall import uninstall
        return uninstall(args.root, quiet=args.quiet)
    from installer.install import Options, install
    return install(Options(tarball=args.tarball, sha256=args.sha256, root=args.root, config=args.config,
                           python=args.python, pyinotify_tarball=args.pyinotify_tarball,
                           pyinotify_sha256=args.pyinotify_sha256, yes=args.yes, dry_run=args.dry_run,
                           quiet=args.quiet))


def run_management(args):
    from installer import manage
    from installer.fail2ban import Client
    client = Client()
    if args.command == "doctor":
        from installer.doctor import doctor
        return doctor(client, as_json=args.json)
    if args.command == "status":
        return manage.status(client, args.jail, as_json=args.json)
    if args.command == "ban":
        return manage.ban(client, args.addresses, force=args.force, as_json=args.json)
    if args.command == "unban":
        return manage.unban(client, args.addresses, as_json=args.json)
    if args.command == "log":
        if args.follow and args.json:
            raise InstallerError("log: --json and --follow do not go together")
        return manage.log(client, args.lines, follow=args.follow, as_json=args.json)
    return manage.bans(client, as_json=args.json)


def main(argv=None, prog="qmail-f2b"):
    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="  %(message)s", stream=sys.stderr)
    try:
        if args.command == "install":
            return run_install(args)
        return run_management(args)
    except InstallerError as error:
        sys.stderr.write(f"{prog}: error: {error}\n")
        return 1
    except OSError as error:
        # A refusal from the system (read-only or full file system, permissions): the install has
        # rolled back what it wrote by the time it gets here.
        where = f" {error.filename}" if error.filename else ""
        sys.stderr.write(f"{prog}: error: cannot use{where}: {error.strerror or error}; "
                         "nothing was changed: fix that and run it again\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; nothing was changed\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
