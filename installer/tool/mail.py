"""Mail to the admin the way fail2ban's sendmail actions send it: the message on the standard input of
`sendmail -f SENDER DEST`, with DEST and SENDER from site.conf's [alerts]."""

import socket
from email.message import EmailMessage
from email.utils import formatdate

from installer.shared import paths
from installer.shared.run import run
from installer.siteconf import settings as site_settings


def alerts(root="/"):
    """(dest, sender) from site.conf."""
    settings = site_settings.load(paths.under(root, paths.SITE_CONF))
    return settings.dest, settings.sender


def send(subject, body, root="/"):
    """Hand the message to sendmail; raises InstallerError with sendmail's complaint if it refuses."""
    dest, sender = alerts(root)
    message = EmailMessage()
    message["Subject"] = f"[qmail-f2b] {socket.getfqdn()}: {subject}"
    message["From"] = sender
    message["To"] = dest
    message["Date"] = formatdate(localtime=True)
    # 8bit: long lines (log lines, reasons) stay readable as they are, not quoted-printable.
    message.set_content(body, cte="8bit")
    run([paths.under(root, paths.SENDMAIL), "-f", sender, dest], input=message.as_string(), timeout=120,
        what=f"sending mail to {dest} with {paths.SENDMAIL}")
    return dest
