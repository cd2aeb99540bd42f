"""CrowdSec's own programs: the Local API server (crowdsec -no-cs) and cscli, which registers the
fleet's machines and bouncers in its database. Only the host whose role is lapi runs them.

The LAPI runs alone: no log-parsing agent, no hub, no Central API (no online_client key), so it makes
no connection out of the fleet. Its configuration and database are ours, apart from the package's.
"""

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

from installer.fleet import credentials
from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.firewall import find_tool
from installer.shared.run import run

LAPI = "crowdsec"
CSCLI = "cscli"


def program(name, root="/"):
    """The program's path under root, or None (the tool folders every external tool is looked up in)."""
    return find_tool(root, name)


def listen_address(fleet):
    """ADDRESS:PORT the LAPI listens on: where lapi_url points."""
    parts = urlsplit(fleet.lapi_url)
    host = parts.hostname if ":" not in (parts.hostname or "") else f"[{parts.hostname}]"
    return f"{host}:{parts.port}"


def config_text(fleet):
    return f"""\
# {paths.LAPI_CONFIG}: CrowdSec's Local API for the fleet, written by qmail-fail2ban's ./install from
# {paths.SITE_CONF} ([fleet]). The API alone (run with -no-cs): no agent, no hub, no Central API.
common:
  daemonize: false
  log_media: stdout
  log_level: info
config_paths:
  config_dir: {paths.LAPI_CONFIG_DIR}/
  data_dir: {paths.LAPI_DATA}/
db_config:
  type: sqlite
  db_path: {paths.LAPI_DATA}/crowdsec.db
  use_wal: true
  flush:
    max_age: 400d
api:
  server:
    # warning: not a line per bouncer poll (one a second from every host).
    log_level: warning
    listen_uri: {listen_address(fleet)}
    profiles_path: {paths.LAPI_PROFILES}
"""


PROFILES_TEXT = f"""\
# {paths.LAPI_PROFILES}: written by qmail-fail2ban's ./install. The LAPI needs a profile file; the
# fleet's alerts carry their own decisions, which it keeps as they are.
name: keep_decisions
filters:
  - Alert.Remediation == true && false
decisions:
  - type: ban
    duration: 4h
on_success: break
"""


def rendered(fleet):
    """{path relative to the root: content} of the LAPI's files, on the host whose role is lapi."""
    if not fleet or not fleet.runs_lapi:
        return {}
    return {paths.relative(paths.LAPI_CONFIG): config_text(fleet).encode(),
            paths.relative(paths.LAPI_PROFILES): PROFILES_TEXT.encode()}


def _cscli(*args, what):
    return run([program(CSCLI) or CSCLI, "-c", paths.LAPI_CONFIG, *args], what=what, timeout=60)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def register(fleet):
    """Registers every host whose credentials the lapi host holds, as machine and bouncer, and removes
    those it registered before whose credentials are gone; what it changed, as lines to show."""
    wanted = credentials.every_host(fleet)
    Path(paths.LAPI_DATA).mkdir(mode=0o700, parents=True, exist_ok=True)
    record_path = Path(paths.LAPI_REGISTERED)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    machines = {entry.get("machineId") for entry in json.loads(
        _cscli("machines", "list", "-o", "json", what="listing the LAPI's machines").stdout or "[]") or []}
    bouncers = {entry.get("name"): entry.get("api_key") for entry in json.loads(
        _cscli("bouncers", "list", "-o", "json", what="listing the LAPI's bouncers").stdout or "[]") or []}
    changes = []
    for name, (password, key) in wanted.items():
        if name not in machines or record.get(name, {}).get(credentials.PASSWORD) != _digest(password):
            _cscli("machines", "add", name, "--password", password, "--force", "-f", "/dev/null",
                   what=f"registering machine {name} with the LAPI")
            changes.append(f"machine {name}")
        # The LAPI keeps a bouncer's key as its SHA-512.
        if bouncers.get(name) != hashlib.sha512(key.encode()).hexdigest():
            if name in bouncers:
                _cscli("bouncers", "delete", name, what=f"replacing bouncer {name}'s key")
            _cscli("bouncers", "add", name, "--key", key, what=f"registering bouncer {name} with the LAPI")
            changes.append(f"bouncer {name}")
        record[name] = {credentials.PASSWORD: _digest(password), credentials.BOUNCER_KEY: _digest(key)}
    for name in sorted(set(record) - set(wanted)):
        if name in machines:
            _cscli("machines", "delete", name, what=f"removing machine {name} from the LAPI")
        if name in bouncers:
            _cscli("bouncers", "delete", name, what=f"removing bouncer {name} from the LAPI")
        del record[name]
        changes.append(f"removed {name}")
    if changes or not record_path.exists():
        record_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = record_path.with_name(f".{record_path.name}.tmp")
        temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
        temporary.chmod(0o600)
        temporary.replace(record_path)
    return changes


def missing_packages(fleet, root="/"):
    """The Debian packages whose programs the role needs and root lacks."""
    from installer.fleet import bouncer
    needed = {bouncer.PROGRAM: "crowdsec-firewall-bouncer"}
    if fleet.runs_lapi:
        needed.update({LAPI: "crowdsec", CSCLI: "crowdsec"})
    return sorted({package for name, package in needed.items() if not program(name, root)})


def check_programs(fleet, root="/"):
    """One error line naming the Debian packages when what the role needs is not installed."""
    missing = missing_packages(fleet, root)
    if missing:
        raise InstallerError(f"[fleet] role {fleet.role} needs {', '.join(missing)}, which is not installed"
                             f" (Debian: apt-get install {' '.join(missing)}, after writing '# no thanks' into"
                             f" {paths.CROWDSEC_OFFLINE} so that it stays offline)")
