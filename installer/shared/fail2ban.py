"""fail2ban-client, as installed under a root: the calls the installer and qmail-f2b make."""

import ast
import json
import os
import re
from pathlib import Path

from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.run import last_meaningful_line, run

NOT_RUNNING = f"fail2ban is not running: start it with {paths.RC_SCRIPT} start"

# What fail2ban-client says when nothing answers on the socket (1.0 and 1.1 alike).
_NO_SERVER = ("Is fail2ban running?", "Is it running?")
# fail2ban's log prefix on the client's error lines: "2024-01-01 10:00:00,000 fail2ban [12]: ERROR   ".
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \S+\s+\[\d+\]: ([A-Z]+)\s+")
_STATUS_LINE = re.compile(r"^[\s|`-]*([A-Za-z][A-Za-z ]*):\t(.*)$")


class NotRunning(InstallerError):
    """No fail2ban-server answers."""


def reason_of(text):
    """What fail2ban says went wrong, on one line: its first ERROR (with the lines that continue
    it), else its last line; without fail2ban's log prefix."""
    lines = (text or "").splitlines()
    for index, line in enumerate(lines):
        prefix = _LOG_PREFIX.match(line)
        if prefix and prefix.group(1) == "ERROR":
            message = [line[prefix.end():]]
            for following in lines[index + 1:]:
                if _LOG_PREFIX.match(following):
                    break
                message.append(following)
            return " ".join(part.strip() for part in message if part.strip())
    return _LOG_PREFIX.sub("", last_meaningful_line(text))


def parse_status(text):
    """{"Currently failed": "0", "File list": "/var/log/x", ...} from `status` or `status JAIL`."""
    return {found.group(1).strip(): found.group(2).strip()
            for found in map(_STATUS_LINE.match, text.splitlines()) if found}


class Configuration:
    """The commands `fail2ban-client -d` prints: ['set', 'dbpurgeage', '1d'], ['add', JAIL, BACKEND],
    ['set', JAIL, KEY, VALUE...], ['multi-set', JAIL, KEY, [VALUES]], ['start', JAIL]."""

    def __init__(self, commands, warnings=""):
        self.commands = commands
        self.warnings = warnings

    def jails(self):
        """The enabled jails."""
        return [command[1] for command in self.commands if command[0] == "add"]

    def server(self, key, default=None):
        found = [command[2] for command in self.commands
                 if command[0] == "set" and len(command) == 3 and command[1] == key]
        return found[-1] if found else default

    def values(self, jail, key):
        """Every value given to KEY of the jail, in order (a multi-set's list counts as its items)."""
        values = []
        for command in self.commands:
            if command[0] in ("set", "multi-set") and command[1:3] == [jail, key]:
                for value in command[3:]:
                    values += value if isinstance(value, list) else [value]
        return values

    def value(self, jail, key, default=None):
        values = self.values(jail, key)
        return values[-1] if values else default

    def log_files(self, jail):
        # addlogpath gives the file, then where to start reading it (head or tail).
        return [command[3] for command in self.commands
                if command[0] == "set" and command[1:3] == [jail, "addlogpath"]]

    def actions(self, jail):
        return [command[3] for command in self.commands
                if command[0] == "set" and command[1:3] == [jail, "addaction"]]

    def action_options(self, jail, action):
        """The options the jail gives one of its actions: a command action's properties (name,
        port...) or a Python action's keyword arguments (the JSON after its file)."""
        options = {}
        for command in self.commands:
            if command[0] == "set" and command[1:4] == [jail, "addaction", action] and len(command) > 5:
                try:
                    options.update(json.loads(command[5]))
                except ValueError:
                    pass
            elif command[0] == "multi-set" and command[1:4] == [jail, "action", action]:
                options.update({key: value for key, value in command[4]})
        return options

    def jails_without_logs(self):
        """Jails whose logpath matches no file: fail2ban warns about them, and will not start."""
        # 1.1.1 quotes the jail's name: "for 'dovecot' jail."; earlier releases do not.
        return re.findall(r"Have not found any log file for '?([^\s']+)'? jail", self.warnings)

    def filter_text(self, jail):
        """A filter file that matches exactly as the jail does, for fail2ban-regex."""
        lines = ["[Definition]"]
        for key, name in (("prefregex", "prefregex"), ("addfailregex", "failregex"),
                          ("addignoreregex", "ignoreregex"), ("datepattern", "datepattern"),
                          ("maxlines", "maxlines")):
            values = [str(value) for value in self.values(jail, key)]
            if key in ("prefregex", "datepattern", "maxlines"):
                values = values[-1:]
            if values:
                # The file is read with fail2ban's interpolation, which takes % as its own.
                text = "\n".join(values).replace("%", "%%")
                lines.append(f"{name} = " + text.replace("\n", "\n    "))
        return "\n".join(lines) + "\n"


def python_env(root, site_dir, base=None):
    """The environment (base, else this process's) in which fail2ban's Python imports the packages
    installed under root: a staged root's site folder first on PYTHONPATH; the host's as they are.
    No bytecode is written beside files the manifest records."""
    env = dict(os.environ if base is None else base, PYTHONDONTWRITEBYTECODE="1")
    if site_dir and not paths.is_host_root(root):
        env["PYTHONPATH"] = str(paths.under(root, site_dir))
    return env


class Client:
    def __init__(self, root="/", site_dir=None):
        self.root = Path(root)
        self.env = python_env(root, site_dir)

    def argv(self, *args, confdir=None):
        return [str(paths.under(self.root, paths.CLIENT)), "-c",
                str(confdir or paths.under(self.root, paths.CONFIG_DIR)), *args]

    def call(self, *args, check=True, timeout=60, what=None, confdir=None):
        what = what or f"fail2ban-client {' '.join(args)}"
        result = run(self.argv(*args, confdir=confdir), env=self.env, check=False, timeout=timeout, what=what)
        if check and result.returncode != 0:
            if any(sign in result.stderr for sign in _NO_SERVER):
                raise NotRunning(NOT_RUNNING)
            if "you must be root" in result.stderr:
                raise InstallerError("only root may talk to fail2ban: run this as root")
            reason = reason_of(result.stderr) or reason_of(result.stdout) or "no output"
            raise InstallerError(f"{what} failed: {reason}")
        return result

    def version(self):
        return self.call("-V").stdout.strip()

    def test_config(self, confdir=None):
        """fail2ban's own verdict on the configuration; raises with its reason when it rejects it."""
        result = self.call("-t", check=False, confdir=confdir)
        if result.returncode != 0:
            errors = [line for line in (result.stderr + result.stdout).splitlines() if "ERROR" in line]
            reason = (errors[0].split("ERROR", 1)[1].strip(" :") if errors
                      else last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout))
            raise InstallerError(f"fail2ban rejects the configuration: {reason}")
        return result

    def is_running(self):
        return self.call("ping", check=False, timeout=15).returncode == 0

    def configuration(self):
        """The configuration as the server would get it (`fail2ban-client -d`); needs no server."""
        result = self.call("-d", what="reading the fail2ban configuration (fail2ban-client -d)")
        commands = [ast.literal_eval(line) for line in result.stdout.splitlines() if line.startswith("[")]
        return Configuration(commands, result.stderr)

    # ---- a running server ------------------------------------------------------------------

    def jails(self):
        """The names of the running jails, in the server's order."""
        listed = parse_status(self.call("status").stdout).get("Jail list", "")
        return [name.strip() for name in listed.split(",") if name.strip()]

    def jail_status(self, jail):
        return parse_status(self.call("status", jail).stdout)

    def banned(self):
        """{jail: [banned addresses]} for every running jail, in the server's order."""
        output = self.call("banned").stdout.strip()
        jails = {}
        for entry in ast.literal_eval(output) if output else []:
            jails.update(entry)
        return jails

    def ban(self, jail, addresses):
        """How many of the addresses the jail newly banned."""
        # fail2ban's own actions start a firewall process per address (about 130 a second).
        timeout = 60 + len(addresses) // 20
        return int(self.call("set", jail, "banip", *addresses, timeout=timeout).stdout.strip() or 0)

    def unban(self, jail, addresses):
        return int(self.call("set", jail, "unbanip", *addresses).stdout.strip() or 0)

    def ignoreip(self, jail):
        output = self.call("get", jail, "ignoreip").stdout
        return [line.split(" ", 1)[1].strip() for line in output.splitlines() if line[:3] in ("|- ", "`- ")]

    # ---- fail2ban-regex ------------------------------------------------------------------------

    def failures(self, log_file, filter_file, usedns="no", shown=None, timeout=300):
        """The address of every line of log_file that filter_file counts as a failure.

        shown names the log in messages, when log_file is a copy of it.
        """
        shown = shown or log_file
        argv = [paths.under(self.root, paths.REGEX), "-c", paths.under(self.root, paths.CONFIG_DIR),
                "--usedns", usedns, "-o", "ip",
                log_file, filter_file]
        result = run(argv, env=self.env, check=False, timeout=timeout, what=f"fail2ban-regex on {shown}")
        if result.returncode != 0:
            raise InstallerError(f"fail2ban-regex cannot match {shown}: "
                                 f"{reason_of(result.stderr) or reason_of(result.stdout) or 'no output'}")
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]
