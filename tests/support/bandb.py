"""fail2ban databases of past bans, written with fail2ban's own database API (Fail2BanDb.addBan), for
qmail-f2b report's tests and benchmark.

BAN_DB runs inside a host with fail2ban's Python (the server's interpreter, which imports fail2ban)
and takes JSON on stdin: {"path": FILE, "bans": [[jail, address, seconds ago], ...]} or, for a large
database, {"path": FILE, "generate": COUNT}: COUNT bans of the last 14 days over six jails, drawn
(with a fixed seed) so that addresses come back and crowd into networks, as real attackers do.
"""

SERVER_PYTHON = "$(sed -n '1s/^#!//p' /usr/bin/fail2ban-server)"

BAN_DB = r"""
import json, os, random, sys, time
from fail2ban.server.database import Fail2BanDb
from fail2ban.server.ticket import BanTicket

class Jail:
    # What Fail2BanDb.addJail and addBan ask of a jail: its name and its actions' ban time.
    def __init__(self, name):
        self.name, self.actions = name, self
    def getBanTime(self):
        return 600

spec = json.load(sys.stdin)
if os.path.exists(spec["path"]):
    os.remove(spec["path"])
db = Fail2BanDb(spec["path"], purgeAge=365 * 86400)
now = time.time()
bans = spec.get("bans", [])
if "generate" in spec:
    pick = random.Random(14)
    jails = ["dovecot", "qmail-smtp", "qmail-submission", "vpopmail", "roundcube", "qmailadmin"]
    networks = [f"{pick.randrange(1, 224)}.{pick.randrange(256)}.{pick.randrange(256)}" for _ in range(5000)]
    v6 = [f"2001:db8:{pick.randrange(65536):x}" for _ in range(500)]
    for _ in range(spec["generate"]):
        if pick.random() < 0.1:
            address = f"{pick.choice(v6)}::{pick.randrange(1, 40):x}"
        else:
            address = f"{networks[int(pick.paretovariate(1.2)) % len(networks)]}.{pick.randrange(1, 8)}"
        bans.append([pick.choice(jails), address, pick.uniform(0, 14 * 86400)])
known = {}
for jail_name, address, age in bans:
    if jail_name not in known:
        known[jail_name] = Jail(jail_name)
        db.addJail(known[jail_name])
    ticket = BanTicket(address, now - age)
    ticket.setBanTime(600)
    db.addBan(known[jail_name], ticket)
print(len(bans))
"""


def write_ban_db(host, path, bans=None, generate=None, timeout=600):
    """Writes the database inside the host; returns how many bans it holds."""
    import json
    import shlex
    spec = {"path": path, **({"bans": bans} if bans is not None else {"generate": generate})}
    result = host.run(f"{SERVER_PYTHON} -c {shlex.quote(BAN_DB)} <<'END_OF_SPEC'\n{json.dumps(spec)}\nEND_OF_SPEC",
                      timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"writing the ban database failed: {result.stderr.strip()}")
    return int(result.stdout.strip())
