"""What a qmail-f2b command returns: the data (printed as JSON with --json) and the lines the admin
reads otherwise; the command line prints one or the other."""

from dataclasses import dataclass, field


@dataclass
class Report:
    data: object
    lines: list = field(default_factory=list)
    status: int = 0
