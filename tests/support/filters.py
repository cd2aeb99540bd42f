"""Run fail2ban's own filter machinery (fail2ban-regex) over logs and read back what it found.

Sample logs follow fail2ban's failJSON convention (fail2ban/tests/files/logs/<filter>): a comment
  # failJSON: {"time": "2024-05-01T10:00:00", "match": true, "host": "192.0.2.1"}
describes the next log line; "match": false marks a line that must not count. A line
  # filterOptions: [{"mode": "aggressive"}]
starts a section read with those filter options (dovecot[mode=aggressive]). Times are UTC; a line
whose date has no year (classic syslog) is compared without the year.
"""

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "files" / "logs"
FILTERS = ("qmail-smtp", "vpopmail", "qmailadmin", "roundcube-auth", "dovecot")

# one output line per failure: address, time (epoch), the log line itself
OUT_FORMAT = "<ip>\t<time>\t<msg>"
DIRECTIVE = re.compile(r"^#\s*(failJSON|filterOptions):(.*)$")
YEARLESS_DATE = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
REGEX_HITS = re.compile(r"^\|\s+(\d+)\) \[(\d+)\] ", re.M)
LINE_TOTALS = re.compile(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", re.M)


@dataclass
class Sample:
    line: str
    expect: dict
    lineno: int


@dataclass
class Section:
    options: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)


def read_samples(path):
    """The sections of a failJSON sample file, each with its filter options and samples."""
    sections = [Section()]
    expect = None
    for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        directive = DIRECTIVE.match(raw)
        if directive and directive.group(1) == "failJSON":
            expect = json.loads(directive.group(2))
        elif directive:
            (options,) = json.loads(directive.group(2))
            sections.append(Section(options=options))
        elif raw.startswith("#") or not raw.strip():
            continue
        else:
            if expect is None:
                raise ValueError(f"{path}:{lineno}: log line without a failJSON comment")
            sections[-1].samples.append(Sample(raw, expect, lineno))
            expect = None
    return [section for section in sections if section.samples]


def filter_spec(name, options):
    """fail2ban's way to name a filter with options: dovecot[mode=aggressive]."""
    if not options:
        return name
    return name + "[" + ", ".join(f"{key}={value}" for key, value in options.items()) + "]"


def regex_run(fail2ban, confdir, spec, log_path, *options, timeout=300):
    """fail2ban-regex over a log file, with the filter looked up by name in confdir."""
    result = fail2ban.run("fail2ban-regex", "--timezone", "UTC", "--config", confdir, *options,
                          log_path, spec, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"fail2ban-regex {spec} {log_path} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def failures(fail2ban, confdir, spec, lines, workdir, timeout=300):
    """{log line: (address, epoch time)} for every line fail2ban counts as a failure."""
    log_path = Path(workdir) / "sample.log"
    log_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    found = {}
    out = regex_run(fail2ban, confdir, spec, log_path, "--out", OUT_FORMAT, timeout=timeout)
    for row in out.splitlines():
        address, when, line = row.split("\t", 2)
        found[line] = (address, float(when))
    return found


def hits_per_regex(report):
    """[hits of failregex 1, 2, ...] from a verbose fail2ban-regex report."""
    return [int(hits) for _, hits in REGEX_HITS.findall(report.split("Ignoreregex:")[0])]


def line_totals(report):
    """(lines, ignored, matched, missed) from a fail2ban-regex report."""
    return tuple(int(number) for number in LINE_TOTALS.search(report).groups())


def expected_epoch(sample):
    return datetime.datetime.fromisoformat(sample.expect["time"]).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def same_time(sample, epoch):
    expected = datetime.datetime.fromtimestamp(expected_epoch(sample), datetime.timezone.utc)
    found = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    if YEARLESS_DATE.match(sample.line):
        found = found.replace(year=expected.year)
    return found == expected


def mismatches(section, found, times=True):
    """Why each sample of a section disagrees with what fail2ban found (empty when all agree);
    times=False compares addresses only."""
    problems = []
    for sample in section.samples:
        where = f"line {sample.lineno}"
        hit = found.get(sample.line)
        if not sample.expect["match"]:
            if hit:
                problems.append(f"{where}: must not match, fail2ban took {hit[0]}: {sample.line[:200]}")
            continue
        if hit is None:
            problems.append(f"{where}: missed: {sample.line[:200]}")
            continue
        if hit[0] != sample.expect["host"]:
            problems.append(f"{where}: took {hit[0]}, expected {sample.expect['host']}: {sample.line[:200]}")
        if times and not same_time(sample, hit[1]):
            problems.append(f"{where}: time {hit[1]}, expected {sample.expect['time']}")
    return problems
