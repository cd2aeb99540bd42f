"""qmail-fail2ban: install and run fail2ban for a qmail/vpopmail/dovecot/roundcube host."""

__version__ = "0.1.0"
