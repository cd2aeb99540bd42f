"""fail2ban's times (86400, 1h, 1w, 180d, 1h 30m, -1 for ever) in seconds: one reading for
site.conf's checks, the rendering and doctor."""

import re

FOR_EVER = -1

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
# ASCII digits only: fail2ban's parser refuses other scripts' digits that str.isdigit() accepts.
_TIME_PART = re.compile(r"\s*([0-9]+)\s*([a-z]*)", re.ASCII)


def positive_seconds(text):
    """The seconds in a positive time fail2ban accepts; None if it is not one."""
    text = str(text).strip().lower()
    total, position = 0, 0
    while position < len(text):
        part = _TIME_PART.match(text, position)
        if not part or (part.group(2) and part.group(2) not in _UNIT_SECONDS):
            return None
        total += int(part.group(1)) * _UNIT_SECONDS.get(part.group(2), 1)
        position = part.end()
    return total or None


def seconds_or_for_ever(text):
    """positive_seconds, or FOR_EVER for a negative number (fail2ban's ban without end)."""
    if re.fullmatch(r"-[0-9]+", str(text).strip(), re.ASCII):
        return FOR_EVER
    return positive_seconds(text)
