"""The site configuration, /etc/qmail-fail2ban/site.conf: read with configobj, validated
against siteconf.spec, and turned into Settings, the one input the rendering reads.

Every value that reaches fail2ban's files is checked here, so a site.conf that loads can
never produce a jail.local that stops the server. A bad one raises InstallerError with a
single line: "PATH, line N, key K: what is wrong".
"""

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from configobj import ConfigObj, ConfigObjError, DuplicateError, flatten_errors, get_extra_values
try:
    from configobj.validate import ValidateError, Validator
except ImportError:  # configobj before 5.0.7 ships validate as a module of its own
    from validate import ValidateError, Validator

from installer.errors import InstallerError

SITE_CONF = "/etc/qmail-fail2ban/site.conf"
SPEC = Path(__file__).with_name("siteconf.spec")

LOOPBACK = ("127.0.0.1/8", "::1")
BANACTIONS = ("iptables", "nftables", "ipset", "auto")
# iptables' multiport match takes at most 15 ports.
MAX_PORTS = 15

JAIL_NOTES = {
    "qmail-smtp": "SMTP on port 25 (qmail-smtpd, logged by multilog)",
    "qmail-submission": "submission on port 587 (qmail-smtpd, read with the qmail-smtp filter)",
    "vpopmail": "vchkpw password failures, on every port it serves (through syslog)",
    "qmailadmin": "qmailadmin logins (its auth-log patch)",
    "roundcube": "Roundcube webmail logins (logs/userlogins; Slackware serves /var/www/htdocs)",
    "dovecot": "IMAP and POP3 logins (Dovecot's own log file)",
    "custom": "manual bans with qmail-f2b ban: reads no log, bans for long",
    "recidive": "longer bans for addresses banned again and again (fail2ban's own log)",
}


@dataclass(frozen=True)
class Jail:
    name: str
    enabled: bool
    port: tuple                      # port numbers; () bans every port
    bantime: Optional[str]           # None here and below: the value in [defaults]
    logpath: Optional[str] = None    # None: the jail reads no log (the manual-ban jail)
    maxretry: Optional[int] = None
    findtime: Optional[str] = None

    @property
    def all_ports(self):
        return not self.port


@dataclass(frozen=True)
class Settings:
    dest: str
    sender: str
    ignoreip: tuple
    maxretry: int
    findtime: str
    bantime: str
    banaction: str
    jails: tuple

    def jail(self, name):
        return next(jail for jail in self.jails if jail.name == name)


class Invalid(ValidateError):
    """A value a check refuses; str() is the whole explanation."""


# ---- checks named in siteconf.spec --------------------------------------------------------

def _single(value):
    if isinstance(value, list):
        raise Invalid("must be one value, not a list (remove the commas)")
    return value.strip()


def _items(value):
    items = value if isinstance(value, list) else value.split(",")
    return [item.strip() for item in items if item.strip()]


# No leading "-": sendmail would read the address as an option.
_LOCAL_PART = r"[A-Za-z0-9._+][A-Za-z0-9._+-]{0,63}"
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL_PART}@{_HOST_LABEL}(?:\.{_HOST_LABEL})*")


def email(value):
    # The address goes into sendmail's command line in double quotes: only plain characters.
    text = _single(value)
    if not _EMAIL.fullmatch(text) or len(text) > 254:
        raise Invalid(f"must be an e-mail address like postmaster@example.com, not {text!r}")
    return text


def addresses(value):
    items = _items(value)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise Invalid(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(items)


# ASCII digits only: str.isdigit() and \d take digits fail2ban cannot read (², ١), and int() refuses some.
_NUMBER = re.compile(r"[0-9]+")


def retries(value):
    text = _single(value)
    if not _NUMBER.fullmatch(text) or int(text) < 1:
        raise Invalid(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


# The units fail2ban's own time parser (MyTime.str2seconds) understands, with their seconds.
_UNIT_SECONDS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "mo": 2629800, "mon": 2629800, "month": 2629800, "months": 2629800,
    "y": 31557600, "year": 31557600, "years": 31557600,
}
_TIME_PART = re.compile(r"\s*([0-9]+)\s*([a-z]*)", re.ASCII)


def seconds(text):
    """The seconds in a time fail2ban accepts (86400, 1h, 1w, 180d, 1h 30m); None if it is not one."""
    text = text.strip().lower()
    total, position = 0, 0
    while position < len(text):
        part = _TIME_PART.match(text, position)
        if not part or (part.group(2) and part.group(2) not in _UNIT_SECONDS):
            return None
        total += int(part.group(1)) * _UNIT_SECONDS.get(part.group(2), 1)
        position = part.end()
    return total or None


def duration(value):
    text = _single(value)
    if not seconds(text):
        raise Invalid("must be a positive time such as 3600 (seconds), 10m, 1h, 1d, 1w, 180d;"
                      f" not {text!r}")
    return text


def banaction(value):
    text = _single(value)
    if text not in BANACTIONS:
        raise Invalid(f"must be one of {', '.join(BANACTIONS)}; not {text!r}")
    return text


def switch(value):
    text = _single(value).lower()
    if text in ("yes", "y", "true", "on", "1"):
        return True
    if text in ("no", "n", "false", "off", "0"):
        return False
    raise Invalid(f"must be yes or no, not {text!r}")


# fail2ban splits logpath at spaces and globs it: a plain absolute path only.
_LOGPATH = re.compile(r"/[A-Za-z0-9._+@=/-]*[A-Za-z0-9._+@=-]")


def logpath(value):
    text = _single(value)
    if not _LOGPATH.fullmatch(text):
        raise Invalid("must be the absolute path of a file, made of letters, digits and"
                      f" . _ - + @ = / only; not {text!r}")
    return text


def ports(value):
    items = _items(value)
    if [item.lower() for item in items] == ["all"]:
        return ()
    if not items:
        raise Invalid("must list port numbers, or say all")
    numbers = []
    for item in items:
        if not _NUMBER.fullmatch(item) or not 1 <= int(item) <= 65535:
            raise Invalid(f"{item!r} is not a port number from 1 to 65535 (or all)")
        if int(item) in numbers:
            raise Invalid(f"port {item} is listed twice")
        numbers.append(int(item))
    if len(numbers) > MAX_PORTS:
        raise Invalid(f"lists {len(numbers)} ports; at most {MAX_PORTS} (or all)")
    return tuple(numbers)


CHECKS = {check.__name__: check for check in
          (email, addresses, retries, duration, banaction, switch, logpath, ports)}


# ---- reading -----------------------------------------------------------------------------

def _layout(text):
    """(line number, path) of every section header and key line: (3, ("jails", "vpopmail", "port"))."""
    layout = []
    path = ()
    closing_quote = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if closing_quote:
            if closing_quote in stripped:
                closing_quote = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        header = re.match(r"(\[+)(.*?)\]+", stripped)
        if header:
            path = path[:len(header.group(1)) - 1] + (header.group(2).strip().strip("'\""),)
            layout.append((number, path))
            continue
        key, equals, value = stripped.partition("=")
        if equals:
            layout.append((number, path + (key.strip().strip("'\""),)))
            value = value.strip()
            closing_quote = next((quote for quote in ('"""', "'''")
                                  if value.startswith(quote) and value.count(quote) == 1), None)
    return layout


def _line_of(layout, path):
    """The line that gives path, or else the one that opens the section holding it."""
    while path:
        for number, given in layout:
            if given == path:
                return number
        path = path[:-1]
    return 1


def _injections(section, path=()):
    """(path, problem) for every raw value that could break out of its line in fail2ban's files."""
    for key in section.scalars:
        value = section[key]
        for item in value if isinstance(value, list) else [value]:
            if "\n" in item or "\r" in item:
                yield path + (key,), "holds a line break, which would inject lines into fail2ban's files"
            elif "[" in item or "]" in item:
                yield path + (key,), "holds a square bracket, which would inject configuration into jail.local"
            elif "%" in item:
                yield path + (key,), "holds %, which fail2ban would read as a reference to another option"
    for name in section.sections:
        yield from _injections(section[name], path + (name,))


def _misplaced(section, spec, path=()):
    """(path, problem) for a section where the spec wants a value, or the other way round."""
    for name in section.sections:
        if name in spec.scalars:
            yield path + (name,), "must be a value, not a [section]"
        elif name in spec.sections:
            yield from _misplaced(section[name], spec[name], path + (name,))
    for name in section.scalars:
        if name in spec.sections:
            yield path + (name,), "must be a [section], not a value"


def _unknown(config):
    """(path, problem) for every section and key the spec does not know."""
    for sections, name in get_extra_values(config):
        known = _section_of(config.configspec, sections)
        if sections == ("jails",):
            problem = f"no such jail; the jails are {', '.join(known.sections)}"
        else:
            kind = "section" if name in _section_of(config, sections).sections else "key"
            problem = f"unknown {kind}; known here: {', '.join(known.scalars + known.sections)}"
        yield tuple(sections) + (name,), problem


def _section_of(config, sections):
    for section in sections:
        config = config[section]
    return config


def _fail(where, line, path, problem):
    key = f", key {'.'.join(path)}" if path else ""
    raise InstallerError(f"{where}, line {line}{key}: {problem}")


def parse(text, where):
    """Settings from site.conf text; `where` names it in the error line."""
    layout = _layout(text)
    try:
        config = ConfigObj(text.splitlines(), configspec=str(SPEC), interpolation=False,
                           raise_errors=True)
    except ConfigObjError as error:
        if isinstance(error, DuplicateError):
            given_there = [path for number, path in layout if number == error.line_number]
            _fail(where, error.line_number, given_there[0], "is given twice in the same section")
        reason = re.sub(r" \('.*?'\)|\s*at line \d+\.?$", "", str(error)).lower()
        _fail(where, error.line_number, (), f"cannot read {error.line.strip()!r}: {reason}")
    problems = list(_injections(config)) + list(_misplaced(config, config.configspec))
    if not problems:
        validation = config.validate(Validator(CHECKS), preserve_errors=True)
        problems = [(tuple(sections) + (key,), str(error))
                    for sections, key, error in flatten_errors(config, validation)]
        problems += _unknown(config)
    if problems:
        path, problem = min(problems, key=lambda found: _line_of(layout, found[0]))
        _fail(where, _line_of(layout, path), path, problem)
    return _settings(config)


def load(path):
    """The validated Settings in the site.conf at path."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InstallerError(f"{path}: cannot read it: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise InstallerError(f"{path}, line {line}: is not UTF-8 text") from None
    return parse(text, path)


def defaults():
    return parse("", SITE_CONF)


def with_loopback(ignoreip):
    """ignoreip with 127.0.0.1/8 and ::1 first, whatever the admin wrote."""
    given = {ipaddress.ip_network(item, strict=False) for item in ignoreip}
    missing = [item for item in LOOPBACK if ipaddress.ip_network(item, strict=False) not in given]
    return tuple(missing) + tuple(ignoreip)


def _settings(config):
    # The spec's keys of a jail are the names of Jail's fields.
    jails = tuple(Jail(name=name, **config["jails"][name]) for name in config["jails"].configspec.sections)
    chosen = config["defaults"]
    return Settings(dest=config["alerts"]["dest"], sender=config["alerts"]["sender"],
                    ignoreip=with_loopback(chosen["ignoreip"]), maxretry=chosen["maxretry"],
                    findtime=chosen["findtime"], bantime=chosen["bantime"],
                    banaction=chosen["banaction"], jails=jails)


# ---- writing -----------------------------------------------------------------------------

HEADER = f"""\
# {SITE_CONF}: the one place to configure qmail-fail2ban.
# ./install checks it and writes from it /etc/fail2ban/jail.local, fail2ban.local and
# action.d/sendmail-common.local: change a value here, then run ./install again.
# Times take fail2ban's forms: 3600 (seconds), 10m, 1h, 1d, 1w, 180d.
"""


def _port_text(jail):
    return ", ".join(str(port) for port in jail.port) if jail.port else "all"


def _jail_text(jail, spec):
    lines = [f"    # {JAIL_NOTES[jail.name]}", f"    [[{jail.name}]]",
             f"    enabled = {'yes' if jail.enabled else 'no'}"]
    if jail.logpath is not None:
        lines.append(f"    logpath = {jail.logpath}")
    lines.append(f"    port = {_port_text(jail)}")
    inherited = []
    for key in ("maxretry", "findtime", "bantime"):
        if key not in spec:
            continue
        value = getattr(jail, key)
        if value is None:
            inherited.append(key)
        else:
            lines.append(f"    {key} = {value}")
    if inherited:
        lines.append(f"    # {', '.join(inherited)}: from [defaults]")
    return "\n".join(lines) + "\n"


def to_text(settings):
    """A commented site.conf that loads back as exactly these settings."""
    spec = ConfigObj(str(SPEC), list_values=False, _inspec=True)["jails"]
    return HEADER + f"""
# Where ban reports go (sendmail-whois), and the address they come from.
[alerts]
dest = {settings.dest}
sender = {settings.sender}

# What every jail uses unless its own section says otherwise.
[defaults]
# Addresses and networks never banned; 127.0.0.1/8 and ::1 are always among them.
ignoreip = {', '.join(settings.ignoreip)}
# maxretry failures within findtime earn a ban of bantime.
maxretry = {settings.maxretry}
findtime = {settings.findtime}
bantime = {settings.bantime}
# The firewall: iptables, nftables, ipset (iptables with ipset sets), or auto
# (decided at install time: iptables where it works, otherwise nftables).
banaction = {settings.banaction}

# One section per jail. port is the ports banned (or all); a key left out
# takes its value from [defaults]; a log that does not exist yet is created empty.
[jails]
""" + "\n".join(_jail_text(jail, spec[jail.name]) for jail in settings.jails)
