"""The command line of ./install and qmail-f2b."""

import argparse
import logging
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
    parser.add_argument("--root", metavar="DIR", help="stage everything under DIR; root is not needed")
    parser.add_argument("--config", metavar="FILE", help="site configuration to use instead of asking")
    parser.add_argument("--python", metavar="PATH", help="the Python fail2ban runs on (default: the system's)")
    parser.add_argument("--yes", action="store_true", help="take the defaults without asking")
    parser.add_argument("--dry-run", action="store_true", help="print every step and file; change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only errors and files to review")
    parser.add_argument("--verbose", action="store_true", help="log every command run")
    parser.add_argument("--uninstall", action="store_true", help="remove what an earlier install wrote")


def build_parser(prog):
    parser = OneLineParser(prog=prog, description="Install and manage fail2ban on a qmail mail host.")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    install_arguments(commands.add_parser("install", help="build and install fail2ban from a release tarball"))
    return parser


def run_install(args):
    if args.uninstall:
        from installer.uninstall import uninstall
        return uninstall(args.root, quiet=args.quiet)
    from installer.install import Options, install
    return install(Options(tarball=args.tarball, sha256=args.sha256, root=args.root, config=args.config,
                           python=args.python, yes=args.yes, dry_run=args.dry_run, quiet=args.quiet))


def main(argv=None, prog="qmail-f2b"):
    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="  %(message)s", stream=sys.stderr)
    if args.command is None:
        parser.error("no command given")
    try:
        return run_install(args)
    except InstallerError as error:
        sys.stderr.write(f"{prog}: error: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; nothing was changed\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
