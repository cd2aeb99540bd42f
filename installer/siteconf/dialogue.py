"""The first-run questions, when there is no site configuration yet: where alerts go, which
jails to enable and where their logs are, and (only when asked for, ./install --fleet) this host's
part in a fleet. Every answer is checked as site.conf's would be, and asked again until it passes.

`python3 -m installer.siteconf.dialogue [--fleet] [ROOT]` asks them and prints the resulting site.conf.
"""

import sys
from dataclasses import replace
from pathlib import Path

from installer.shared.errors import InstallerError
from installer.shared.paths import FLEET_CREDENTIALS, SITE_CONF
from installer.siteconf.checks import (
    Invalid,
    addresses,
    email,
    fleet_name,
    fleet_role,
    folder,
    lapi_url,
    logpath,
    switch,
)
from installer.siteconf.jails import definition
from installer.siteconf.settings import Fleet, defaults, host_name, with_loopback
from installer.siteconf.text import to_text


def _answer(prompt):
    try:
        return input(prompt).strip()
    except EOFError:
        raise InstallerError("the first-run questions got no answer (input closed): run ./install"
                             " --yes for the defaults, or --config FILE") from None


def _ask(question, default, check, note="", shown=None):
    """check(answer or default), asking again with the reason while it refuses."""
    while True:
        answer = _answer(f"{question} [{shown or default}]{note}: ") or default
        try:
            return check(answer)
        except Invalid as error:
            print(f"  {error}; try again.")


def _log_state(root, path):
    file = Path(root) / path.lstrip("/")
    if file.exists():
        return "exists"
    if file.parent.is_dir():
        return "missing: created empty"
    return "missing, and its folder too: the jail stays off"


def _ask_jail(root, jail):
    print(f"\n{jail.name}: {definition(jail.name).note}")
    enabled = _ask("  enable it?", "yes" if jail.enabled else "no", switch,
                   shown="Y/n" if jail.enabled else "y/N")
    if not enabled or jail.logpath is None:
        return replace(jail, enabled=enabled)
    path = _ask("  log file", jail.logpath, logpath, f" ({_log_state(root, jail.logpath)})")
    if path != jail.logpath:
        print(f"  {path}: {_log_state(root, path)}")
    return replace(jail, enabled=True, logpath=path)


def _required(check):
    def answered(text):
        if not text:
            raise Invalid("must be given")
        return check(text)
    return answered


def _ask_fleet():
    print("\nfleet: share bans with the other mail hosts through CrowdSec's Local API (README: Fleet)")
    role = _ask("  this host's role: none, lapi (runs the Local API) or member", "none", fleet_role)
    if role == "none":
        return None
    name = _ask("  its name in the fleet", host_name(), fleet_name)
    url = _ask("  the Local API's address (http://ADDRESS:PORT)", "", _required(lapi_url), shown="")
    credentials = _ask("  folder of the credentials (NAME.password, NAME.bouncer-key)", FLEET_CREDENTIALS, folder)
    ignored = _ask("  never banned fleet-wide (addresses, networks)", "", addresses, shown="")
    return Fleet(role=role, name=name, lapi_url=url, credentials=credentials, ignoreip=with_loopback(ignored))


def ask(root, defaults, fleet=False):
    """Settings from the admin's answers, each question offering the value in defaults; with fleet, the
    fleet's questions too."""
    print(f"No {SITE_CONF} yet: a few questions to write it (Enter keeps the [value]).")
    dest = _ask("Send ban reports to", defaults.dest, email)
    sender = _ask("Send them from", defaults.sender, email)
    jails = tuple(_ask_jail(root, jail) for jail in defaults.jails)
    shared = _ask_fleet() if fleet else defaults.fleet
    return replace(defaults, dest=dest, sender=sender, jails=jails, fleet=shared)


def main(argv):
    fleet = "--fleet" in argv
    argv = [arg for arg in argv if arg != "--fleet"]
    settings = ask(Path(argv[0]) if argv else Path("/"), defaults(), fleet=fleet)
    print("--- site.conf ---")
    print(to_text(settings), end="")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InstallerError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
