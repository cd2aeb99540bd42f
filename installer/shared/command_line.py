"""What ./install and qmail-f2b share on the command line: bad arguments and failures both end in
one line on stderr and a non-zero exit."""

import argparse
import logging
import sys

from installer.shared.errors import InstallerError


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line and exit status 2, like every other error here."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def run_command(prog, command, verbose=False):
    """command()'s exit status, with every failure turned into one line on stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="  %(message)s",
                        stream=sys.stderr)
    try:
        return command()
    except InstallerError as error:
        sys.stderr.write(f"{prog}: error: {error}\n")
        return 1
    except OSError as error:
        # A refusal from the system (read-only or full file system, permissions): an install has
        # rolled back what it wrote by the time it gets here.
        where = f" {error.filename}" if error.filename else ""
        sys.stderr.write(f"{prog}: error: cannot use{where}: {error.strerror or error}; "
                         "nothing was changed: fix that and run it again\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; nothing was changed\n")
        return 130
