"""The fleet: bans shared between mail hosts through CrowdSec's Local API (LAPI).

fail2ban stays the detector on every host. Its bans are published as LAPI decisions (spool.py,
lapi.py), every host's crowdsec-firewall-bouncer enforces the fleet's decisions in ipsets of its own
(bouncer.py), and the host whose role is lapi runs the Local API (crowdsec.py). The fleet daemon
(daemon.py, `qmail-f2b fleet serve`, run by rc.qmail-f2b-fleet) keeps the bouncer and the LAPI running
and delivers what fail2ban's action (action.d/qmail-f2b-fleet.py) queued.
"""
