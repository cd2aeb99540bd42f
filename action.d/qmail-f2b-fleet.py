# Fail2Ban action of qmail-fail2ban: share each ban with the fleet.
#
# Every ban of the jail is queued for CrowdSec's Local API, which hands it to every host's firewall
# bouncer: an attacker banned here is dropped by the other mail hosts too. The ban is written as a file
# into the spool, where the fleet daemon (qmail-f2b fleet serve) picks it up within 0.1 s and sends it
# (qmail-fail2ban's installer/fleet/spool.py reads the same fields). Written before anything is sent,
# a ban is never lost while the Local API is down; it goes when the LAPI answers again.
#
# Bans fail2ban restores from its database at start were shared when they were made: not again
# (norestored). An unban here, at the ban's end or when fail2ban stops, lifts nothing fleet-wide: the
# LAPI's decision ends on its own after the same bantime, and `qmail-f2b unban` lifts it at once.
#
# Use, after a jail's other actions:
#   action = iptables-multiport[...]
#            qmail-f2b-fleet.py[spool=/var/spool/qmail-fail2ban/fleet]

import itertools
import json
import os
import time

from fail2ban.server.action import ActionBase

# Every jail loads this file into the same module: names stay unique across them.
_SEQUENCE = globals().get("_SEQUENCE", itertools.count())


class Publish(ActionBase):
    norestored = True

    # spool: jail.local names it (qmail-fail2ban's paths.FLEET_SPOOL), so that the path is said in one place.
    def __init__(self, jail, name, spool):
        super().__init__(jail, name)
        self.spool = spool

    def start(self):
        os.makedirs(self.spool, mode=0o700, exist_ok=True)

    def stop(self):
        pass

    def ban(self, aInfo):
        if aInfo["restored"]:
            return
        record = {"jail": self._jail.name, "ip": str(aInfo["ip"]), "bantime": int(aInfo["bantime"]),
                  "at": time.time()}
        name = "%d-%d-%d.json" % (time.time_ns(), os.getpid(), next(_SEQUENCE))
        temporary = os.path.join(self.spool, "." + name)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(record, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, os.path.join(self.spool, name))

    def unban(self, aInfo):
        pass


Action = Publish
