"""STUB (to be replaced): settings -> files."""


def render(settings, root):
    return {"etc/fail2ban/jail.local": b"[DEFAULT]\nbantime = 1h\n"}


def logs_to_create(settings):
    return []
