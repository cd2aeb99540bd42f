"""The one exception the command line turns into a single error line and a non-zero exit."""


class InstallerError(Exception):
    """A failure the admin can act on; str() is the whole message, one line."""
