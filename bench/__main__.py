"""python -m bench: the figures an admin cares about, ours against a reference measured in the same run.

Writes bench/results.md. Needs root: fail2ban, its firewall rules and the installs all run inside
throwaway hosts (private namespaces), never on this machine's own firewall. About ten minutes.
"""

import argparse
import os
import sys
import tempfile
import time
import traceback

from bench import ban_latency, ban_scale, common, fleet, install, lapse, report, server, upgrade


def filters_part(progress, args):
    from bench import filters
    return filters.run(progress=progress)


def latency_part(progress, args):
    with tempfile.TemporaryDirectory(prefix="qf2b-bench-latency-") as scratch:
        os.chmod(scratch, 0o755)
        return ban_latency.run(progress=progress, scratch=scratch)


def scale_part(progress, args):
    return ban_scale.run(progress=progress,
                         reference_addresses=ban_scale.ADDRESSES if args.full else ban_scale.ADDRESSES // 5)


PARTS = {
    "filters": ("1. Filter throughput", filters_part),
    "latency": ("2. Ban latency", latency_part),
    "scale": ("3. Ban scale", scale_part),
    "install": ("4. Install", lambda progress, args: install.run(progress=progress)),
    "server": ("5. Server start, reload and stop", lambda progress, args: server.run(progress=progress)),
    "lapse": ("6. Protection that does not lapse", lambda progress, args: lapse.run(progress=progress)),
    "report": ("7. Ban report on a large database", lambda progress, args: report.run(progress=progress)),
    "upgrade": ("8. Upgrade of a running server", lambda progress, args: upgrade.run(progress=progress)),
    "fleet": ("9. A ban shared across the fleet", lambda progress, args: fleet.run(progress=progress)),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"only these ({', '.join(PARTS)}); default: all")
    parser.add_argument("--full", action="store_true",
                        help="time fail2ban's per-address actions on all 5,000 addresses, not 1,000 scaled (+4 min)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.parts if name not in PARTS]
    if unknown:
        parser.error(f"no part named {unknown[0]!r} (the parts: {', '.join(PARTS)})")
    if os.geteuid() != 0:
        print("python -m bench: error: run it as root (it builds throwaway hosts with namespaces)", file=sys.stderr)
        return 1
    started = time.monotonic()
    began = time.time()

    def progress(message):
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    sections, failed = [], []
    for name in args.parts or PARTS:
        title, part = PARTS[name]
        progress(f"{title}")
        try:
            figures, notes = part(progress, args)
        except Exception as error:  # one broken part must not cost the others' figures
            traceback.print_exc()
            failed.append(name)
            figures, notes = [], [f"Not measured: {type(error).__name__}: {error}"]
        sections.append((title, figures, notes))
    common.write_results(sections, common.machine(), began, started,
                         order=[title for title, _ in PARTS.values()])
    progress(f"wrote {common.RESULTS}")
    if failed:
        print(f"python -m bench: error: {', '.join(failed)} failed; see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
