"""fail2ban-client, as installed under a root: the calls the installer and qmail-f2b make."""

import os
from pathlib import Path

from installer.errors import InstallerError
from installer.run import last_meaningful_line, run

CLIENT = "usr/bin/fail2ban-client"
CONFIG = "etc/fail2ban"


class Client:
    def __init__(self, root="/", site_dir=None):
        self.root = Path(root)
        self.env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        if self.root.resolve() != Path("/") and site_dir:
            # A staged fail2ban imports its package from the stage, not from the host.
            self.env["PYTHONPATH"] = str(self.root / site_dir.lstrip("/"))

    def argv(self, *args):
        return [str(self.root / CLIENT), "-c", str(self.root / CONFIG), *args]

    def call(self, *args, check=True, timeout=60, what=None):
        return run(self.argv(*args), env=self.env, check=check, timeout=timeout,
                   what=what or f"fail2ban-client {' '.join(args)}")

    def version(self):
        return self.call("-V").stdout.strip()

    def test_config(self):
        """fail2ban's own verdict on the configuration; raises with its reason when it rejects it."""
        result = self.call("-t", check=False)
        if result.returncode != 0:
            errors = [line for line in (result.stderr + result.stdout).splitlines() if "ERROR" in line]
            reason = (errors[0].split("ERROR", 1)[1].strip(" :") if errors
                      else last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout))
            raise InstallerError(f"fail2ban rejects the configuration: {reason}")
        return result

    def is_running(self):
        return self.call("ping", check=False, timeout=15).returncode == 0
