"""Filter throughput: lines/s of each filter through fail2ban-regex, ours beside the tutorial's and upstream's.

For each filter: a generated 300,000-line log in its service's real format (about 2% failures;
qmailadmin's log holds failures only), read by our filter, by the tutorial's (reconstructed below),
and for dovecot and roundcube-auth by fail2ban's own filter without our .local, all in the same run;
then the time each one takes on one hostile line of about 300 KB. qmail-smtp is read on two logs:
the combined patch's (netqmail) and sagredo's qmail-smtpd's, with its qlogenvelope lines.

    python -m bench.filters [--fail2ban-regex CMD --config CONFDIR] [--lines N]

CMD runs fail2ban-regex (e.g. "python3 /usr/bin/fail2ban-regex"), CONFDIR is a fail2ban config dir
with our filter.d files installed beside fail2ban's. Without them, ./install is staged into a
temporary root from the test fixture tarball and that fail2ban is used. Prints a markdown table.
"""

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure
from tests.support import logsamples

LINES = 300_000
HOSTILE_TIMEOUT = 30  # seconds; a run still going then is reported as not finished
FILTERS = ("qmail-smtp", "vpopmail", "qmailadmin", "roundcube-auth", "dovecot")
# what is measured: each filter on its jail's log, and qmail-smtp on sagredo's qmail-smtpd log too
# ("FILTER/FLAVOUR" reads FILTER's filter)
CASES = ("qmail-smtp", "qmail-smtp/sagredo", "vpopmail", "qmailadmin", "roundcube-auth", "dovecot")
# the log each filter's jail reads (logsamples generator name) and what it is
LOGS = {"qmail-smtp": ("qmail-smtp", "multilog smtpd/current"),
        "qmail-smtp/sagredo": ("qmail-smtp-sagredo", "sagredo's qmail, multilog d smtpd/current"), "vpopmail": ("vpopmail", "syslog maillog"),
        "qmailadmin": ("qmailadmin", "qma-auth.log, failures only"),
        "roundcube-auth": ("roundcube-userlogins", "logs/userlogins"), "dovecot": ("dovecot", "syslog maillog")}
# the hostile line timed per filter (logsamples' label): one aimed at a weak spot of the tutorial's
# or fail2ban's filter, a nested ".*" to backtrack through or a planted address to take
HOSTILE = {"qmail-smtp": "HELO of '> remote <helo:|remotehostip:', no failure",
           "qmail-smtp/sagredo": "qlogenvelope auth user of ' remoteip=', no tail",
           "vpopmail": "password of IPv6 pieces, IPv6 client",
           "qmailadmin": "new user of whole markers",
           "roundcube-auth": "user of ' from ADDRESS', no address at the end",
           "dovecot": "reason of 'a: ', no failure"}
UPSTREAM = ("roundcube-auth", "dovecot")
OUR_LOCALS = ("roundcube-auth.local", "dovecot.local")

# The TUTORIAL's filters, reconstructed from its description for comparison only: bench-only
# reference definitions, never installed. Unanchored, greedy ".*" before "from <HOST>", <HOST>
# (host names accepted), nested ".*" in the chkuser line, the vpopmail one for port 587 only,
# the roundcube one for logs/errors only, the dovecot one requiring "Info: ".
TUTORIAL = {
    "qmail-smtp": r"""
failregex = qmail-smtpd: read failed: .* from <HOST> to .*
            qmail-smtpd: timeout: .* from <HOST> to .*
            qmail-smtpd: message rejected \(qmail-dnsbl\).* from <HOST> to .*
            GREETDELAY from <HOST>: client sent data before greeting
            CHKUSER rejected rcpt: from <.*> remote <.*remotehostip:<HOST>> rcpt <.*> : not existing recipient
            CHKUSER rejected relaying: from <.*> remote <.*remotehostip:<HOST>> rcpt <.*> : client not allowed to relay
""",
    "vpopmail": r"""
failregex = vchkpw-submission: password fail .*:<HOST>$
            vchkpw-submission: vpopmail user not found .*:<HOST>$
""",
    "qmailadmin": r"""
failregex = user:.* ip:<HOST> auth:failed
""",
    "roundcube-auth": r"""
failregex = IMAP Error: Login failed for .* from <HOST>
""",
    "dovecot": r"""
failregex = (?:pop3|imap)-login: Info: (?:Aborted login|Disconnected).*\(auth failed, \d+ attempts.*\): user=<.*>, method=.*, rip=<HOST>, lip=.*
""",
}

PROCESSED = re.compile(r"\[processed in ([\d.]+) sec\]")
LINE_TOTALS = re.compile(r"^Lines: (\d+) lines, \d+ ignored, (\d+) matched", re.M)


@dataclass
class Run:
    seconds: float   # fail2ban-regex's own processing time, start-up excluded
    lines: int
    matched: int


@dataclass
class Hostile:
    seconds: float   # None: not done within HOSTILE_TIMEOUT
    took: str        # the address fail2ban took from the line, "nothing", or None when not done


ROUNDS = 5


class Fail2banRegex:
    def __init__(self, argv, env=None):
        self.argv, self.env = list(argv), env

    def _run(self, confdir, filter_name, log, timeout, *options):
        """fail2ban-regex's output; None when it did not finish within timeout."""
        argv = [*self.argv, "--config", str(confdir), "--raw", *options, str(log), filter_name]
        try:
            result = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result.stdout

    def process(self, confdir, filter_name, log, timeout):
        """The Run of fail2ban-regex over log with the named filter; None when not done within timeout."""
        out = self._run(confdir, filter_name, log, timeout, "--print-no-missed", "--print-no-ignored")
        if out is None:
            return None
        processed, totals = PROCESSED.search(out), LINE_TOTALS.search(out)
        if not processed or not totals:
            raise RuntimeError(f"fail2ban-regex printed no statistics:\n{out[-2000:]}")
        return Run(float(processed.group(1)), int(totals.group(1)), int(totals.group(2)))

    def addresses(self, confdir, filter_name, log, timeout):
        """The addresses fail2ban takes from log, one per failure; None when not done within timeout."""
        out = self._run(confdir, filter_name, log, timeout, "--out", "ip")
        return None if out is None else out.split()


def reference_config(confdir, folder):
    """confdir without our .local files (fail2ban's own filters alone), plus the tutorial's filters."""
    reference = Path(folder) / "reference"
    shutil.copytree(confdir, reference)
    for name in OUR_LOCALS:
        (reference / "filter.d" / name).unlink(missing_ok=True)
    for name, definition in TUTORIAL.items():
        (reference / "filter.d" / f"tutorial-{name}.conf").write_text(
            "# The tutorial's filter, reconstructed for the benchmark only.\n[Definition]\n" + definition)
    return reference


def contenders(name, confdir, reference):
    """(label, config dir, filter name) of every filter read on name's log."""
    found = [("ours", confdir, name), ("tutorial", reference, f"tutorial-{name}")]
    if name in UPSTREAM:
        found.append(("upstream", reference, name))
    return found


def hostile_line(name):
    """(line, the client's own address) of the hostile line timed for filter name."""
    return next((line, host) for line, host, what in logsamples.hostile_long_lines(filter_of(name))
                if what == HOSTILE[name])


def filter_of(case):
    """The filter a measured case reads: "qmail-smtp/sagredo" reads qmail-smtp."""
    return case.split("/")[0]


def on_hostile_line(regex, confdir, filter_name, line, folder):
    """Hostile: seconds for the line (repeated while one copy is too quick to time) and what was taken."""
    log = Path(folder) / "hostile.log"
    log.write_text(line + "\n")
    taken = regex.addresses(confdir, filter_name, log, HOSTILE_TIMEOUT)
    if taken is None:
        return Hostile(None, None)
    copies = 1
    while True:
        run = regex.process(confdir, filter_name, log, HOSTILE_TIMEOUT)
        if run is None:
            return Hostile(None, ", ".join(taken) or "nothing")
        if run.seconds >= 0.5 or copies >= 64:
            return Hostile(run.seconds / copies, ", ".join(taken) or "nothing")
        copies *= 8
        log.write_text((line + "\n") * copies)


def measure(regex, confdir, lines=LINES, progress=print):
    """{filter: {label: (throughput Run, Hostile)}}."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="qf2b-bench-filters-") as folder:
        reference = reference_config(confdir, folder)
        for name in CASES:
            generator, _ = LOGS[name]
            log = Path(folder) / f"{name.replace('/', '-')}.log"
            log.write_text("".join(line + "\n" for line in logsamples.realistic(generator, lines).lines))
            results[name] = {}
            fastest = {}
            # Rounds interleave the contenders, and each keeps its fastest: on a shared machine one
            # run of a filter varies by about a tenth, more than the differences measured.
            for round_number in range(1, ROUNDS + 1):
                for label, config, filter_name in contenders(filter_of(name), confdir, reference):
                    progress(f"filters: {name}, {label} (round {round_number} of {ROUNDS})")
                    run = regex.process(config, filter_name, log, timeout=600)
                    if label not in fastest or run.seconds < fastest[label].seconds:
                        fastest[label] = run
            for label, config, filter_name in contenders(filter_of(name), confdir, reference):
                hostile = on_hostile_line(regex, config, filter_name, hostile_line(name)[0], folder)
                results[name][label] = (fastest[label], hostile)
            log.unlink()
    return results


def rate(run):
    return run.lines / run.seconds if run and run.seconds else None


def figures(results):
    """Figure rows for bench results.md: throughput and the hostile line, ours against each other filter."""
    rows, notes = [], []
    for name, measured in results.items():
        ours_run, ours_hostile = measured["ours"]
        for label in [label for label in measured if label != "ours"]:
            other_run, other_hostile = measured[label]
            reference_label = "tutorial's filter" if label == "tutorial" else f"fail2ban's {name}.conf"
            rows.append(Figure(f"{name}: lines/s through fail2ban-regex ({LOGS[name][1]})", rate(ours_run),
                               rate(other_run), "lines/s", f"{ours_run.matched:,} matched",
                               f"{reference_label}, {other_run.matched:,} matched"))
            rows.append(Figure(f"{name}: one 300 KB hostile line", ours_hostile.seconds, other_hostile.seconds, "s",
                               f"took {ours_hostile.took}", f"{reference_label}, took {other_hostile.took}"
                               if other_hostile.seconds is not None
                               else f"{reference_label}: not done in {HOSTILE_TIMEOUT} s"))
    count = next(iter(results.values()))["ours"][0].lines if results else 0
    notes.append(f"Logs: {count:,} generated lines per filter, about 2% failures (qmailadmin logs failures only);"
                 " lines/s from fail2ban-regex's own processing time, start-up excluded, the fastest of"
                 f" {ROUNDS} interleaved rounds.")
    notes.append(f"Hostile lines (tests/logsamples.py): {right_results(results)}; any other address taken is a"
                 " wrong ban. The tutorial's filters are reconstructed from its description (bench/filters.py).")
    return rows, notes


def right_results(results):
    """What a filter should take from each hostile line: the client's address, or nothing where the
    line holds no failure or can be read two ways."""
    return "right result " + ", ".join(f"{hostile_line(name)[1] or 'nothing'} ({name})" for name in results)


def markdown(results):
    lines = ["| filter | log | filter read | lines/s | matched | ours vs it | 300 KB hostile line | took |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, measured in results.items():
        ours_run, _ = measured["ours"]
        for label, (run, hostile) in measured.items():
            speed = rate(run)
            versus = "-" if label == "ours" else f"{rate(ours_run) / speed:.2f}x" if speed else "-"
            line_time = f"{hostile.seconds:.4f} s" if hostile.seconds is not None else f"> {HOSTILE_TIMEOUT} s"
            lines.append(f"| {name} | {LOGS[name][1]} | {label} | {f'{speed:,.0f}' if speed else '-'} |"
                         f" {run.matched:,} | {versus} | {line_time} | {hostile.took or '-'} |")
    lines.append("")
    lines.append(f"Hostile lines: {right_results(results)}; any other address taken is a wrong ban.")
    return "\n".join(lines)


def staged_fail2ban(folder):
    """./install staged into folder from the fixture tarball: (Fail2banRegex, config dir)."""
    from tests.support.install import fixture_tarball, stage_install
    staged = stage_install(Path(folder) / "root", fixture_tarball())
    return Fail2banRegex([str(staged.bin("fail2ban-regex"))], staged.env), staged.confdir


def run(progress=print, lines=LINES):
    """For python -m bench: (figures, notes) measured on a staged install."""
    with tempfile.TemporaryDirectory(prefix="qf2b-bench-stage-") as folder:
        regex, confdir = staged_fail2ban(folder)
        return figures(measure(regex, confdir, lines, progress))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.filters", description=__doc__.splitlines()[0])
    parser.add_argument("--fail2ban-regex", metavar="CMD", help="command that runs fail2ban-regex")
    parser.add_argument("--config", metavar="CONFDIR", help="fail2ban config dir with our filter.d files")
    parser.add_argument("--lines", type=int, default=LINES, help=f"lines per generated log (default {LINES:,})")
    args = parser.parse_args(argv)
    if bool(args.fail2ban_regex) != bool(args.config):
        parser.error("give both --fail2ban-regex and --config, or neither")

    def progress(message):
        print(message, file=sys.stderr, flush=True)
    started = time.monotonic()
    if args.config:
        results = measure(Fail2banRegex(shlex.split(args.fail2ban_regex)), Path(args.config), args.lines, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="qf2b-bench-stage-") as folder:
            regex, confdir = staged_fail2ban(folder)
            results = measure(regex, confdir, args.lines, progress)
    print(markdown(results))
    print(f"\n{args.lines:,} generated lines per log; measured in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
