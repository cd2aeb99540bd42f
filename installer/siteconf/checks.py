"""The checks site.conf's spec names for its values: each returns the value as the settings hold it,
or raises Invalid with the whole explanation."""

import ipaddress
import re

try:
    from configobj.validate import ValidateError
except ImportError:  # configobj before 5.0.7 ships validate as a module of its own
    from validate import ValidateError

from installer.shared.durations import positive_seconds

BANACTIONS = ("iptables", "nftables", "ipset", "auto")
# iptables' multiport match takes at most 15 ports.
MAX_PORTS = 15


class Invalid(ValidateError):
    """A value a check refuses; str() is the whole explanation."""


def _single(value):
    if isinstance(value, list):
        raise Invalid("must be one value, not a list (remove the commas)")
    return value.strip()


def _items(value):
    items = value if isinstance(value, list) else value.split(",")
    return [item.strip() for item in items if item.strip()]


# A local part never starts with "-": the address reaches sendmail's command line, which would take it as an option.
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


# ASCII digits only: str.isdigit() also takes "²" and "١", which int() or fail2ban then refuse.
_NUMBER = re.compile(r"[0-9]{1,9}", re.ASCII)


def whole_number(text):
    """The int of a plain decimal number of ASCII digits; None for anything else."""
    return int(text) if _NUMBER.fullmatch(text) else None


def retries(value):
    text = _single(value)
    if not whole_number(text):
        raise Invalid(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def duration(value):
    text = _single(value)
    if not positive_seconds(text):
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


def _plain_path(value, kind):
    text = _single(value)
    if not _LOGPATH.fullmatch(text):
        raise Invalid(f"must be the absolute path of a {kind}, made of letters, digits and"
                      f" . _ - + @ = / only; not {text!r}")
    return text


def logpath(value):
    return _plain_path(value, "file")


def ports(value):
    items = _items(value)
    if [item.lower() for item in items] == ["all"]:
        return ()
    if not items:
        raise Invalid("must list port numbers, or say all")
    numbers = []
    for item in items:
        if not 1 <= (whole_number(item) or 0) <= 65535:
            raise Invalid(f"{item!r} is not a port number from 1 to 65535 (or all)")
        if int(item) in numbers:
            raise Invalid(f"port {item} is listed twice")
        numbers.append(int(item))
    if len(numbers) > MAX_PORTS:
        raise Invalid(f"lists {len(numbers)} ports; at most {MAX_PORTS} (or all)")
    return tuple(numbers)


FLEET_ROLES = ("none", "lapi", "member")


def fleet_role(value):
    text = _single(value)
    if text not in FLEET_ROLES:
        raise Invalid(f"must be one of {', '.join(FLEET_ROLES)}; not {text!r}")
    return text


# A CrowdSec machine and bouncer name, and the stem of the credential files: no path, no shell.
_FLEET_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})", re.ASCII)


def fleet_name(value):
    text = _single(value)
    if text and not _FLEET_NAME.fullmatch(text):
        raise Invalid(f"must be up to 63 letters, digits, . _ - (starting with a letter or digit); not {text!r}")
    return text


# http://ADDRESS:PORT or http://NAME:PORT: where the LAPI listens and every host's bouncer and publisher go.
_LAPI_URL = re.compile(r"http://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})/?", re.ASCII)


def lapi_url(value):
    text = _single(value)
    if not text:
        return ""
    found = _LAPI_URL.fullmatch(text)
    if not found or not 1 <= int(found.group(2)) <= 65535:
        raise Invalid("must be the Local API's address as http://ADDRESS:PORT (like http://192.0.2.1:8080);"
                      f" not {text!r}")
    return text.rstrip("/")


def folder(value):
    return _plain_path(value, "folder")


CHECKS = {check.__name__: check for check in
          (email, addresses, retries, duration, banaction, switch, logpath, ports, fleet_role, fleet_name,
           lapi_url, folder)}
