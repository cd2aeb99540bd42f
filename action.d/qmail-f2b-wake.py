# Fail2Ban action of qmail-fail2ban: bans reach the firewall sooner.
#
# fail2ban's actions thread looks for new bans on a timer that stretches to 2 s while the jail
# is idle (steps of 0.2, 0.4, 0.6, 0.8 s), so an attacker the filter has just found waits about
# 0.3 s, often more, before any firewall action runs. This action bans nothing itself: when its
# jail starts it sets that timer (the jail's Actions.sleeptime) to 0.2 s, for five cheap checks a
# second. bench/ measures the difference.
#
# Use, after a jail's other actions:
#   action = iptables-multiport[...]
#            qmail-f2b-wake.py

from fail2ban.server.action import ActionBase

WAKE_UP = 0.2


class WakeUp(ActionBase):
    def start(self):
        actions = self._jail.actions
        actions.sleeptime = min(getattr(actions, "sleeptime", WAKE_UP), WAKE_UP)

    def stop(self):
        pass

    def ban(self, aInfo):
        pass

    def unban(self, aInfo):
        pass


Action = WakeUp
