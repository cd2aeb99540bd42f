"""contrib/ansible run against the fleet lab, over ssh as an admin's controller would.

Each lab host runs its own sshd (a host key made for the test, root's authorized_keys with a key made
for the test) listening on its eth0 address. The controller (ansible-playbook, and testinfra's ansible
backend) runs on this machine; its ssh reaches a host through netns_relay.py, started by ProxyCommand
in the switch's network namespace, so every ssh packet crosses br0 and nothing is added to this
machine's own network namespace. The role does not know any of this: it sees plain ssh hosts.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.fleet import ROLES
from tests.support.install import REPO

PLAYBOOK = REPO / "contrib/ansible/site.yml"
RELAY = Path(__file__).with_name("netns_relay.py")
RECAP = re.compile(r"^(\S+)\s*:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)

START_SSHD = """set -e
mkdir -p -m 0700 /root/.ssh
mkdir -p -m 0755 /run/sshd
printf '%s\\n' {public_key} > /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/lab_host_ed25519_key
/usr/sbin/sshd -o HostKey=/etc/ssh/lab_host_ed25519_key -o ListenAddress={address} -o UsePAM=no \
    -o PermitRootLogin=prohibit-password -E /var/log/sshd-lab.log
cat /etc/ssh/lab_host_ed25519_key.pub
"""


@dataclass
class Controller:
    workdir: Path
    sockets: Path                   # short: a Unix socket's path must fit in 108 bytes
    inventory: Path
    ssh_config: Path
    env: dict
    testinfra_hosts: dict = field(default_factory=dict)

    def playbook(self, *args, extra_vars=None, timeout=600):
        """ansible-playbook site.yml: its result, and {host: {ok, changed, unreachable, failed}} from the recap."""
        command = ["ansible-playbook", "-i", str(self.inventory), str(PLAYBOOK), *args]
        if extra_vars:
            path = self.workdir / "extra-vars.json"
            path.write_text(json.dumps(extra_vars))
            command += ["-e", f"@{path}"]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env, cwd=self.workdir, timeout=timeout)
        recap = {host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable),
                        "failed": int(failed)}
                 for host, ok, changed, unreachable, failed in RECAP.findall(result.stdout)}
        return result, recap

    def testinfra_host(self, name):
        """testinfra's ansible backend on that inventory host (its ssh goes through the relay too)."""
        import testinfra
        if name not in self.testinfra_hosts:
            self.testinfra_hosts[name] = testinfra.get_host(f"ansible://{name}", ansible_inventory=str(self.inventory))
        return self.testinfra_hosts[name]

    def close(self):
        """Ends the persistent ssh connections (and so their relays) before the lab goes away."""
        for socket_path in self.sockets.glob("*"):
            subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "lab"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        shutil.rmtree(self.sockets, ignore_errors=True)


def start_sshd(lab, workdir, sockets):
    """sshd on every lab host; the controller's key, known_hosts and ssh_config in workdir."""
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-lab-controller", "-f", str(key)],
                   check=True, timeout=30)
    public_key = (workdir / "id_ed25519.pub").read_text().strip()
    known_hosts = []
    for name, host in lab.hosts.items():
        address = lab.addresses[name]
        result = host.run(START_SSHD.format(public_key=shlex.quote(public_key), address=address), check=True)
        key_type, key_text = result.stdout.split()[:2]
        known_hosts.append(f"{address} {key_type} {key_text}")
    (workdir / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    relay = f"nsenter --net=/proc/{lab.switch.pid}/ns/net /usr/bin/python3 {RELAY} %h %p"
    ssh_config = workdir / "ssh_config"
    ssh_config.write_text(f"""Host 192.0.2.*
    User root
    IdentityFile {key}
    IdentitiesOnly yes
    UserKnownHostsFile {workdir / "known_hosts"}
    StrictHostKeyChecking yes
    BatchMode yes
    ProxyCommand {relay}
    # testinfra's checks, one ssh connection per host (ansible-playbook gives its own ControlPath).
    ControlMaster auto
    ControlPath {sockets}/ti-%C
    ControlPersist 120
""")
    return ssh_config


def write_inventory(lab, workdir, ssh_config):
    """The lab as an admin's inventory: group lapi (mail-a) and group member, reached over ssh."""
    groups = {"lapi": {"hosts": {}}, "member": {"hosts": {}}}
    for name, role in ROLES.items():
        groups[role]["hosts"][name] = {"ansible_host": lab.addresses[name]}
    inventory = {"all": {"vars": {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                                  "ansible_ssh_common_args": f"-F {ssh_config}"},
                         "children": groups}}
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=1))
    return path


def controller_env(workdir, sockets):
    """ansible's own state (temp files, persistent ssh sockets) kept in workdir, not in root's home."""
    for folder in ("ansible-home", "ansible-tmp"):
        (workdir / folder).mkdir(exist_ok=True)
    config = workdir / "ansible.cfg"
    config.write_text("[defaults]\nretry_files_enabled = false\nnocolor = true\n")
    return dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_HOME=str(workdir / "ansible-home"),
                ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"), ANSIBLE_SSH_CONTROL_PATH_DIR=str(sockets),
                ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=120s", ANSIBLE_PIPELINING="true",
                ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_FORKS="5")


def controller_for(lab, workdir):
    workdir, sockets = Path(workdir), Path(tempfile.mkdtemp(prefix="qf2b-ssh-"))
    ssh_config = start_sshd(lab, workdir, sockets)
    inventory = write_inventory(lab, workdir, ssh_config)
    return Controller(workdir=workdir, sockets=sockets, inventory=inventory, ssh_config=ssh_config,
                      env=controller_env(workdir, sockets))

