"""site.conf written into a test's folder and loaded as ./install loads it."""

import pytest

from installer.shared.errors import InstallerError
from installer.siteconf import settings as siteconf


def load_text(tmp_path, text):
    path = tmp_path / "site.conf"
    path.write_text(text)
    return siteconf.load(path)


def assert_refused(tmp_path, text, line, key, reason):
    """The one line a bad site.conf gets: its path, the line and key at fault, and why."""
    with pytest.raises(InstallerError) as raised:
        load_text(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'site.conf'}, line {line}, key {key}: "), message
    assert reason in message, message
    assert "\n" not in message
