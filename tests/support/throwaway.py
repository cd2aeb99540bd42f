"""A throwaway copy of this host: private mount, network and PID namespaces with tmpfs overlays.

./install and rc.fail2ban run in it as root for real; /etc, /usr, /var, /opt, /root and /run take
writes into a tmpfs that vanishes with it, the firewall is the namespace's own, and when it is torn
down the kernel kills every process it started (fail2ban-server included). /tmp is shared with the
host on purpose: it is how tests hand files in.
"""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import testinfra.host
from testinfra.backend.local import LocalBackend

OVERLAID = ("/etc", "/usr", "/var", "/opt", "/root")

# PID 1 of the namespace: mounts the overlays, then reaps orphans (a daemon killed with -9 must not
# linger as a zombie that pgrep still sees) until it is killed.
INIT = r"""
import os, subprocess, sys, time
scratch, overlaid = sys.argv[1], sys.argv[2:]
def sh(*argv):
    subprocess.run(argv, check=True)
sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", scratch)
for folder in overlaid:
    upper, work = scratch + folder + ".up", scratch + folder + ".work"
    os.makedirs(upper); os.makedirs(work)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={folder},upperdir={upper},workdir={work}", folder)
sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
sh("ip", "link", "set", "lo", "up")
print("ready", flush=True)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.05)
"""


class NamespaceBackend(LocalBackend):
    """testinfra's local backend, with every command run inside the throwaway's namespaces."""

    def __init__(self, enter, **kwargs):
        super().__init__(**kwargs)
        self.enter = enter

    def run(self, command, *args, **kwargs):
        inner = self.get_command(command, *args)
        return self.run_local(shlex.join([*self.enter, "sh", "-c", inner]))


class Throwaway:
    def __init__(self, hostname=None):
        """hostname: the throwaway gets a UTS namespace of its own with that name (the fleet's hosts
        need distinct names: their fleet name defaults to it); None keeps this machine's."""
        self.scratch = tempfile.mkdtemp(prefix="qf2b-throwaway-")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
             *(["--uts"] if hostname else []),
             "--propagation", "private", sys.executable, "-c", INIT, self.scratch, *OVERLAID],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise RuntimeError(f"throwaway host did not start: {self.process.stderr.read()}")
        self.pid = self._init_pid()
        self.enter = ["nsenter", "-t", str(self.pid), "-m", "-n", "-p", *(["-u"] if hostname else []), "--"]
        self.host = testinfra.host.Host(NamespaceBackend(self.enter))
        if hostname:
            self.run(f"hostname {shlex.quote(hostname)}", check=True)

    def _init_pid(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def run(self, script, timeout=60, check=False, env=None):
        """bash -c script inside; text output. check=True raises with the output on a non-zero exit."""
        result = subprocess.run([*self.enter, "bash", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"{script!r} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def pexpect(self, command, timeout=30, **kwargs):
        return pexpect.spawn(self.enter[0], [*self.enter[1:], "bash", "-c", command], timeout=timeout,
                             encoding="utf-8", **kwargs)

    def close(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{self.pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        os.rmdir(self.scratch)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


CHANGED_PATHS = r"""
import json, os, sys
scratch, overlaid = sys.argv[1], sys.argv[2:]
paths = []
for folder in overlaid:
    upper = scratch + folder + ".up"
    for here, dirs, files in os.walk(upper):
        for name in dirs + files:
            paths.append(folder + os.path.join(here, name)[len(upper):])
print(json.dumps(paths))
"""


def changed_paths(host):
    """Every path the throwaway has written to (its overlays' upper layers), as the host sees them."""
    import json
    result = host.run(shlex.join([sys.executable, "-c", CHANGED_PATHS, host.scratch, *OVERLAID]), check=True)
    return json.loads(result.stdout)


def merged_state(host, paths):
    """The throwaway's view of those paths (None where missing)."""
    import json
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); from treestate import paths_state; "
              "print(json.dumps(paths_state(json.load(sys.stdin))))")
    result = subprocess.run([*host.enter, sys.executable, "-c", script, str(Path(__file__).parent)],
                            input=json.dumps(paths), stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(result.stdout)
