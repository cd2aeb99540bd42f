"""The role's site.conf template (contrib/ansible) as ./install reads it: each host's [fleet] with its
role, name and the lapi host's URL, no [fleet] where the host is out of the fleet, and [defaults] and
[jails] from the role's variables. Rendered by ansible's own template module on this machine, into a
temporary folder only."""

import json
import os
import shutil
import subprocess

import pytest

from installer.siteconf import settings as siteconf
from tests.support.install import REPO

ROLE = REPO / "contrib/ansible/roles/qmail_fail2ban"

pytestmark = pytest.mark.skipif(not shutil.which("ansible-playbook"), reason="needs ansible-playbook")

# The role's defaults at the role's precedence (below the inventory's), without running its tasks.
RENDER = """
- hosts: all
  gather_facts: false
  roles:
    - role: qmail_fail2ban
      when: false
  tasks:
    - ansible.builtin.template:
        src: {template}
        dest: "{out}/{{{{ inventory_hostname }}}}.conf"
        mode: "0644"
"""


def render(tmp_path, **extra_vars):
    """{host: Settings} of site.conf rendered for an inventory of mx1 (lapi), mx2 and mx3 (members)."""
    inventory = {"lapi": {"hosts": {"mx1.example.org": {"ansible_host": "192.0.2.1"}}},
                 "member": {"hosts": {"mx2": {"ansible_host": "192.0.2.2"},
                                      "mx3": {"ansible_host": "192.0.2.3", "qmail_fail2ban_fleet_name": "third"}}}}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": inventory}}))
    (tmp_path / "render.yml").write_text(RENDER.format(template=ROLE / "templates/site.conf.j2", out=tmp_path))
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "ansible.cfg").write_text("")
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible"),
               ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_ROLES_PATH=str(ROLE.parent))
    result = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.json"), str(tmp_path / "render.yml"),
                             "-e", f"@{tmp_path / 'vars.json'}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout
    return {host: siteconf.load(tmp_path / f"{host}.conf") for host in ("mx1.example.org", "mx2", "mx3")}


def test_each_host_gets_its_fleet_role_and_name_and_the_lapi_hosts_url(tmp_path):
    rendered = render(tmp_path, qmail_fail2ban_fleet_ignoreip=["203.0.113.200", "198.51.100.0/25"])
    assert {host: (s.fleet.role, s.fleet.name, s.fleet.lapi_url, s.fleet.credentials)
            for host, s in rendered.items()} == {
        "mx1.example.org": ("lapi", "mx1", "http://192.0.2.1:8080", "/etc/qmail-fail2ban/fleet"),
        "mx2": ("member", "mx2", "http://192.0.2.1:8080", "/etc/qmail-fail2ban/fleet"),
        "mx3": ("member", "third", "http://192.0.2.1:8080", "/etc/qmail-fail2ban/fleet"),
    }
    assert rendered["mx2"].fleet.ignoreip[-2:] == ("203.0.113.200", "198.51.100.0/25")


def test_a_host_out_of_the_fleet_gets_no_fleet_section(tmp_path):
    rendered = render(tmp_path, qmail_fail2ban_fleet=False)
    assert [s.fleet for s in rendered.values()] == [None, None, None]
    assert "[fleet]" not in (tmp_path / "mx2.conf").read_text()


def test_defaults_and_jails_come_from_the_roles_variables(tmp_path):
    rendered = render(tmp_path, qmail_fail2ban_alerts_dest="postmaster@example.org",
                      qmail_fail2ban_ignoreip=["203.0.113.200"], qmail_fail2ban_bantime="2d",
                      qmail_fail2ban_jails={"vpopmail": {"enabled": "yes", "port": [25, 465], "maxretry": 3}})
    mx2 = rendered["mx2"]
    assert (mx2.dest, mx2.bantime, mx2.ignoreip[-1]) == ("postmaster@example.org", "2d", "203.0.113.200")
    assert (mx2.jail("vpopmail").port, mx2.jail("vpopmail").maxretry) == ((25, 465), 3)
