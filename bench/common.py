"""What every benchmark shares: timing, the machine's label, an installed throwaway host, the results table.

Benchmarks run fail2ban for real inside throwaway hosts (tests/support/throwaway.py): private mount, network
and PID namespaces, so their firewall rules and servers vanish with them.
"""

import contextlib
import glob
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tests.support.install import CACHE, REPO, fixture_tarball, install_on
from tests.support.mailhost import LOG_FOLDERS
from tests.support.throwaway import Throwaway

RESULTS = REPO / "bench" / "results.md"


@dataclass
class Figure:
    """One row of results.md. Times are seconds (lower is better), rates per second (higher is better)."""
    figure: str
    ours: float = None
    reference: float = None
    unit: str = "s"
    ours_label: str = ""
    reference_label: str = ""
    goal: str = ""

    @property
    def higher_is_better(self):
        return self.unit.endswith("/s")

    def ratio(self):
        """How many times better ours is than the reference."""
        if not self.ours or not self.reference or not (self.unit == "s" or self.higher_is_better):
            return None
        return self.ours / self.reference if self.higher_is_better else self.reference / self.ours


def shown(value, unit):
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit.endswith("/s"):
        return f"{value:,.0f} {unit}"
    return f"{value:,.0f} {unit}".rstrip()


def machine():
    """The machine absolute figures come from: CPU, cores, memory, kernel, distribution, Python."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    distribution = ""
    with contextlib.suppress(OSError):
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        distribution = ", " + release.get("PRETTY_NAME", "").strip('"')
    system_python = subprocess.run(["/usr/bin/python3", "-V"], stdout=subprocess.PIPE, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores{memory}, Linux {platform.release()}{distribution},"
            f" {system_python} (/usr/bin/python3)")


def median(values):
    return statistics.median(values)


def percentile(values, share):
    """The nearest-rank percentile: the smallest value with at least `share` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def wait_until(condition, timeout, interval=0.01):
    """Poll condition until true; returns the monotonic time it became true, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(interval)
    return None


def tarball():
    return fixture_tarball()


def install(host, *extra, timeout=600):
    """./install as root onto the throwaway's / ; returns the wall time."""
    started = time.monotonic()
    install_on(host, tarball(), "--yes", "--quiet", *extra, timeout=timeout)
    return time.monotonic() - started


def site_conf_with_every_jail(folder):
    """A site.conf with every jail enabled, recidive included (./install --config takes it)."""
    from installer.siteconf import settings as site_settings
    from installer.siteconf.text import to_text
    settings = site_settings.defaults()
    settings = replace(settings, jails=tuple(replace(jail, enabled=True) for jail in settings.jails))
    path = Path(folder) / "site.conf"
    path.write_text(to_text(settings))
    return path


def pyinotify_package():
    """Debian's python3-pyinotify, fetched once into the test cache (None where apt cannot fetch it)."""
    found = sorted(glob.glob(str(CACHE / "python3-pyinotify_*.deb")))
    if found:
        return found[-1]
    CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["apt-get", "download", "-q", "python3-pyinotify"], cwd=CACHE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    found = sorted(glob.glob(str(CACHE / "python3-pyinotify_*.deb")))
    return found[-1] if result.returncode == 0 and found else None


def has_pyinotify(host):
    return host.run("/usr/bin/python3 -c 'import pyinotify'").returncode == 0


def add_pyinotify(host):
    """What an admin does first where the distribution has it: install python3-pyinotify.

    Done inside the throwaway, so this machine's own Python is left as it is. Returns whether
    fail2ban's Python imports pyinotify afterwards.
    """
    if has_pyinotify(host):
        return True
    package = pyinotify_package()
    if package:
        host.run(f"dpkg -i {package}", timeout=120)
    return has_pyinotify(host)


@contextlib.contextmanager
def bench_host(every_jail=False, pyinotify=False):
    """A throwaway host with our ./install done for real (the server not started)."""
    with Throwaway() as host, tempfile.TemporaryDirectory(prefix="qf2b-bench-") as scratch:
        host.run(f"mkdir -p {' '.join(LOG_FOLDERS)}", check=True)
        if pyinotify:
            host.pyinotify = add_pyinotify(host)
        extra = ("--config", site_conf_with_every_jail(scratch)) if every_jail else ()
        os.chmod(scratch, 0o755)
        install(host, *extra)
        yield host


class Monitor:
    """`nft monitor` inside the throwaway: the moment each rule or set element reaches the kernel.

    iptables here is iptables-nft, so its rules show up too. Reading events costs no polling.
    """

    def __init__(self, host):
        self.process = subprocess.Popen([*host.enter, "nft", "monitor"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.events = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        time.sleep(0.3)   # nft needs a moment to subscribe

    def _read(self):
        for line in self.process.stdout:
            with self.lock:
                self.events.append((time.monotonic(), line))

    def first(self, pattern, since):
        """The time of the first event after `since` that the regular expression finds, or None."""
        with self.lock:
            return next((moment for moment, line in self.events if moment >= since and pattern.search(line)), None)

    def close(self):
        self.process.kill()
        self.process.wait(timeout=10)


def _old_sections(path):
    """{title: its block of lines} of results.md as it is."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    blocks, title = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            blocks[title] = []
        if title is not None:
            blocks[title].append(line)
    return blocks


def write_results(sections, machine_label, began, started, path=RESULTS, order=None):
    """results.md: one table per section; `sections` is [(title, [Figure], notes)]. With order (every
    section's title), the sections not measured in this run are kept as they were, in that order."""
    short_machine = machine_label.split(", Linux")[0]
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(began))
    lines = ["# qmail-fail2ban benchmarks", "",
             "Written by `python -m bench`; each section says when it was measured. Every reference was"
             " measured in the same run on the same machine; the ratio says how many times better ours is"
             " (times: reference / ours; rates: ours / reference). Compare ratios across machines, not seconds.",
             "", f"Machine: {machine_label}", ""]
    measured = {}
    for title, figures, notes in sections:
        block = [f"## {title}", "", f"Measured {when} (the run took {time.monotonic() - started:.0f} s).", "",
                 "| figure | ours | reference | ratio | goal | machine |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for figure in figures:
            ratio = figure.ratio()
            ours = shown(figure.ours, figure.unit) + (f" ({figure.ours_label})" if figure.ours_label else "")
            reference = (shown(figure.reference, figure.unit)
                         + (f" ({figure.reference_label})" if figure.reference_label else ""))
            block.append(f"| {figure.figure} | {ours} | {reference} | {f'{ratio:.2f}x' if ratio else '-'} |"
                         f" {figure.goal or '-'} | {short_machine} |")
        block.append("")
        block += [f"- {note}" for note in notes]
        if notes:
            block.append("")
        measured[title] = block
    kept = _old_sections(path) if order else {}
    for title in order or measured:
        block = measured.get(title) or kept.get(title)
        if block:
            lines += block
            if block[-1] != "":
                lines.append("")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines))
    temporary.replace(path)


def run_python(host, script, timeout=60):
    """A Python script run by the throwaway's system Python (it reaches it through the shared /tmp)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="qf2b-bench-") as file:
        file.write(script)
        file.flush()
        os.chmod(file.name, 0o644)
        return host.run(f"/usr/bin/python3 {file.name}", timeout=timeout)
