"""The site configuration, site.conf (paths.SITE_CONF): read with configobj, validated
against the spec (spec.py, made from the jail table), and turned into Settings, the one input
the rendering reads.

Every value that reaches fail2ban's files is checked here, so a site.conf that loads can
never produce a jail.local that stops the server. A bad one raises InstallerError with a
single line: "PATH, line N, key K: what is wrong".
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from configobj import ConfigObj, ConfigObjError, DuplicateError, flatten_errors, get_extra_values

try:
    from configobj.validate import Validator
except ImportError:  # configobj before 5.0.7 ships validate as a module of its own
    from validate import Validator

from installer.shared.addresses import LOOPBACK
from installer.shared.errors import InstallerError
from installer.shared.paths import SITE_CONF
from installer.siteconf.checks import CHECKS
from installer.siteconf.spec import spec_lines


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
class Fleet:
    """[fleet]: this host's part in sharing bans through CrowdSec's Local API (installer/fleet)."""
    role: str                        # lapi or member
    name: str                        # this host's machine and bouncer name at the LAPI
    lapi_url: str
    credentials: str                 # folder of NAME.password and NAME.bouncer-key files
    ignoreip: tuple                  # never published; loopback always among them

    @property
    def runs_lapi(self):
        return self.role == "lapi"


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
    fleet: Optional[Fleet] = None    # None: this host shares no bans

    def jail(self, name):
        return next(jail for jail in self.jails if jail.name == name)


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


# Values that never reach fail2ban's files, whose own checks allow square brackets (an IPv6 URL).
NOT_IN_JAIL_LOCAL = {("fleet", "lapi_url")}


def _injections(section, path=()):
    """(path, problem) for every raw value that could break out of its line in fail2ban's files."""
    for key in section.scalars:
        value = section[key]
        for item in value if isinstance(value, list) else [value]:
            if "\n" in item or "\r" in item:
                yield path + (key,), "holds a line break, which would inject lines into fail2ban's files"
            elif ("[" in item or "]" in item) and path + (key,) not in NOT_IN_JAIL_LOCAL:
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
        config = ConfigObj(text.splitlines(), configspec=spec_lines(), interpolation=False,
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
    if not problems:
        problems += _fleet_problems(config["fleet"])
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
    """ignoreip with the loopback networks first, whatever the admin wrote."""
    given = {ipaddress.ip_network(item, strict=False) for item in ignoreip}
    missing = [item for item in LOOPBACK if ipaddress.ip_network(item, strict=False) not in given]
    return tuple(missing) + tuple(ignoreip)


def _fleet_problems(fleet):
    if fleet["role"] != "none" and not fleet["lapi_url"]:
        yield ("fleet", "lapi_url"), (f"must be given when role is {fleet['role']}: the Local API's address,"
                                      " like http://192.0.2.1:8080")


def host_name():
    """This host's short name, as the fleet's default name for it."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0])[:63] or "mail"


def _fleet(section):
    if section["role"] == "none":
        return None
    return Fleet(role=section["role"], name=section["name"] or host_name(), lapi_url=section["lapi_url"],
                 credentials=section["credentials"], ignoreip=with_loopback(section["ignoreip"]))


def _settings(config):
    # The spec's keys of a jail are the names of Jail's fields.
    jails = tuple(Jail(name=name, **config["jails"][name]) for name in config["jails"].configspec.sections)
    chosen = config["defaults"]
    return Settings(dest=config["alerts"]["dest"], sender=config["alerts"]["sender"],
                    ignoreip=with_loopback(chosen["ignoreip"]), maxretry=chosen["maxretry"],
                    findtime=chosen["findtime"], bantime=chosen["bantime"],
                    banaction=chosen["banaction"], jails=jails, fleet=_fleet(config["fleet"]))
