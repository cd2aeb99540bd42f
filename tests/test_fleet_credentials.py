"""The fleet's credential files: read only from root's closed folder and files, one secret a line;
anything else, and any host's missing half of a pair on the lapi host, is one clear error line."""

import os

import pytest

from installer.fleet import credentials
from installer.shared.addresses import LOOPBACK
from installer.shared.errors import InstallerError
from installer.siteconf.settings import Fleet

PAIRS = {"mx1": ("password-of-mx1-0123", "bouncer-key-of-mx1-0123"),
         "mx2": ("password-of-mx2-4567", "bouncer-key-of-mx2-4567"),
         "mx-3.example": ("p@ss{word}~of|mx3/", "k" * 128)}


def write_secret(folder, name, kind, text, mode=0o600):
    path = folder / f"{name}.{kind}"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def folder(tmp_path):
    """A lapi host's folder holding every host's pair, as the admin should leave it."""
    folder = tmp_path / "fleet"
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    for name, (password, key) in PAIRS.items():
        write_secret(folder, name, credentials.PASSWORD, password + "\n")
        write_secret(folder, name, credentials.BOUNCER_KEY, key + "\n")
    return folder


def fleet_of(folder, name="mx1", role="lapi"):
    return Fleet(role=role, name=name, lapi_url="http://192.0.2.1:8080", credentials=str(folder), ignoreip=LOOPBACK)


def one_line_error(call):
    with pytest.raises(InstallerError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message and message
    return message


def test_a_host_reads_its_own_pair(folder):
    assert credentials.own(fleet_of(folder, "mx2", "member")) == PAIRS["mx2"]
    assert credentials.own(fleet_of(folder, "mx-3.example", "member")) == PAIRS["mx-3.example"]


def test_the_lapi_host_reads_every_hosts_pair(folder):
    (folder / "README").write_text("stray files that are no credentials are left alone\n")
    (folder / "README").chmod(0o600)
    assert credentials.every_host(fleet_of(folder)) == PAIRS


def test_a_read_only_file_and_no_final_newline_are_fine(folder):
    write_secret(folder, "mx1", credentials.PASSWORD, "  password-of-mx1-0123  ", mode=0o400)
    assert credentials.own(fleet_of(folder)) == PAIRS["mx1"]


def test_a_folder_open_to_others_is_refused(folder):
    folder.chmod(0o755)
    message = one_line_error(lambda: credentials.own(fleet_of(folder)))
    assert message.startswith(f"{folder} must be root's and closed to everyone else")
    assert "mode 755" in message and f"chmod 700 {folder}" in message


def test_a_folder_of_another_user_is_refused(folder):
    os.chown(folder, 1000, 1000)
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder)))
    assert message.startswith(f"{folder} must be root's") and "uid 1000" in message


def test_a_file_others_can_read_is_refused(folder):
    path = folder / "mx1.bouncer-key"
    path.chmod(0o644)
    message = one_line_error(lambda: credentials.own(fleet_of(folder)))
    assert message.startswith(f"{path} must be root's and closed to everyone else")
    assert f"chmod 600 {path}" in message and "mode 644" in message


def test_a_file_of_another_user_is_refused(folder):
    path = folder / "mx2.password"
    os.chown(path, 1000, 0)
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder)))
    assert message.startswith(f"{path} must be root's") and "uid 1000" in message


def test_a_symlink_is_refused_though_it_points_at_a_good_file(folder, tmp_path):
    elsewhere = write_secret(tmp_path, "elsewhere", "password", "password-of-mx1-0123\n")
    path = folder / "mx1.password"
    path.unlink()
    path.symlink_to(elsewhere)
    message = one_line_error(lambda: credentials.own(fleet_of(folder)))
    assert message == f"{path} must be a file (not a link or anything else)"


def test_a_symlinked_folder_is_refused(folder, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(folder)
    message = one_line_error(lambda: credentials.own(fleet_of(link)))
    assert message == f"{link} must be a folder (not a link or anything else)"


def test_a_folder_that_is_not_there_is_named(tmp_path):
    message = one_line_error(lambda: credentials.own(fleet_of(tmp_path / "nowhere")))
    assert message == f"{tmp_path / 'nowhere'} does not exist"


@pytest.mark.parametrize("text", ["password-of-mx1-0123\nsecond-line-0123456\n", "password-of-mx1-0123\n\n",
                                  "short-15-chars!\n", "", "\n", "has a space in it 0123\n",
                                  '"quoted-password-0123"\n', "k" * 129 + "\n", "pässwörd-of-mx1-0123\n"])
def test_a_file_that_is_not_one_good_secret_is_refused(folder, text):
    path = write_secret(folder, "mx1", credentials.PASSWORD, text)
    message = one_line_error(lambda: credentials.own(fleet_of(folder)))
    assert message == f"{path} must hold one line: 16 to 128 printable characters without spaces or quotes"


def test_a_hosts_missing_file_is_named(folder):
    (folder / "mx2.bouncer-key").unlink()
    message = one_line_error(lambda: credentials.own(fleet_of(folder, "mx2", "member")))
    assert message == f"{folder / 'mx2.bouncer-key'} does not exist"


def test_the_lapi_host_names_the_missing_bouncer_key_of_another_host(folder):
    (folder / "mx2.bouncer-key").unlink()
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder)))
    assert message == (f"{folder / 'mx2.bouncer-key'} is missing: each host of the fleet needs mx2.password"
                       " and mx2.bouncer-key")


def test_the_lapi_host_names_the_missing_password_of_another_host(folder):
    (folder / "mx-3.example.password").unlink()
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder)))
    assert message.startswith(f"{folder / 'mx-3.example.password'} is missing")


def test_the_lapi_host_must_hold_its_own_pair_too(folder):
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder, "lapi-host")))
    assert message == f"{folder / 'lapi-host.password'} is missing: this host is in the fleet too"


def test_another_hosts_bad_secret_on_the_lapi_host_is_named(folder):
    path = write_secret(folder, "mx2", credentials.BOUNCER_KEY, "too-short\n")
    message = one_line_error(lambda: credentials.every_host(fleet_of(folder)))
    assert message.startswith(f"{path} must hold one line")
