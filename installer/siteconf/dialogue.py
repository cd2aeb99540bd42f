"""The first-run questions, when there is no site configuration yet: where alerts go, which
jails to enable and where their logs are. Every answer is checked as site.conf's would be,
and asked again until it passes.

`python3 -m installer.siteconf.dialogue [ROOT]` asks them and prints the resulting site.conf.
"""

import sys
from dataclasses import replace
from pathlib import Path

from installer.shared.errors import InstallerError
from installer.shared.paths import SITE_CONF
from installer.siteconf.checks import Invalid, email, logpath, switch
from installer.siteconf.jails import definition
from installer.siteconf.settings import defaults
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


def ask(root, defaults):
    """Settings from the admin's answers, each question offering the value in defaults."""
    print(f"No {SITE_CONF} yet: a few questions to write it (Enter keeps the [value]).")
    dest = _ask("Send ban reports to", defaults.dest, email)
    sender = _ask("Send them from", defaults.sender, email)
    jails = tuple(_ask_jail(root, jail) for jail in defaults.jails)
    return replace(defaults, dest=dest, sender=sender, jails=jails)


def main(argv):
    settings = ask(Path(argv[0]) if argv else Path("/"), defaults())
    print("--- site.conf ---")
    print(to_text(settings), end="")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InstallerError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
