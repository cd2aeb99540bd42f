"""The command line of ./install."""

import sys

from installer.shared.command_line import OneLineParser, run_command
from installer.shared.paths import SOURCE_DIR
from installer.shared.releases import NEWEST, UPSTREAM_ARCHIVES


def build_parser(prog):
    parser = OneLineParser(prog=prog, description="Build and install fail2ban from a release tarball "
                                                  "on a qmail mail host.")
    parser.add_argument("--tarball", metavar="FILE", help="fail2ban-X.Y.Z.tar.gz as upstream publishes it "
                        f"(default: the release saved in {SOURCE_DIR}, else downloaded there)")
    parser.add_argument("--release", metavar="X.Y.Z", default=NEWEST, help="the fail2ban release to look for "
                        f"in {SOURCE_DIR} or download, without --tarball (default: {NEWEST})")
    parser.add_argument("--mirror", metavar="URL", help="download URL/X.Y.Z.tar.gz (and configobj's source "
                        f"release, where needed) instead of from {UPSTREAM_ARCHIVES}")
    parser.add_argument("--sha256", metavar="HEX", help="the digest upstream publishes for the tarball")
    parser.add_argument("--pyinotify-tarball", metavar="FILE", help="pyinotify-X.Y.Z.tar.gz as PyPI publishes it, "
                        f"for the fast log backend (default: the newest in {SOURCE_DIR}, if any)")
    parser.add_argument("--pyinotify-sha256", metavar="HEX", help="the digest PyPI publishes for that tarball")
    parser.add_argument("--root", metavar="DIR", help="stage everything under DIR; root is not needed")
    parser.add_argument("--config", metavar="FILE", help="site configuration to use instead of asking")
    parser.add_argument("--python", metavar="PATH", help="the Python fail2ban runs on (default: the system's)")
    parser.add_argument("--yes", action="store_true", help="take the defaults without asking")
    parser.add_argument("--fleet", action="store_true", help="on the first run, ask too for this host's part in a"
                        " fleet that shares bans (site.conf [fleet])")
    parser.add_argument("--dry-run", action="store_true", help="print every step and file; change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only errors and files to review")
    parser.add_argument("--verbose", action="store_true", help="log every command run")
    parser.add_argument("--uninstall", action="store_true", help="remove what an earlier install wrote")
    parser.add_argument("--rollback", action="store_true", help="go back to the release an upgrade replaced "
                        "(its files and database), restarted and checked like an upgrade")
    return parser


def run_install(args):
    if args.uninstall:
        from installer.pipeline.uninstall import uninstall
        return uninstall(args.root, quiet=args.quiet)
    from installer.pipeline.install import Options, install
    return install(Options(tarball=args.tarball, release=args.release, mirror=args.mirror,
                           sha256=args.sha256, root=args.root, config=args.config,
                           python=args.python, pyinotify_tarball=args.pyinotify_tarball,
                           pyinotify_sha256=args.pyinotify_sha256, rollback=args.rollback, fleet=args.fleet,
                           yes=args.yes,
                           dry_run=args.dry_run,
                           quiet=args.quiet))


def main(argv=None, prog="install"):
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    return run_command(prog, lambda: run_install(args), verbose=args.verbose)
