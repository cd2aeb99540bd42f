"""What qmail-f2b ban and unban accept, and the rules that refuse a ban."""

import pytest

from installer.shared import addresses
from installer.shared.errors import InstallerError

IGNORED = addresses.networks(["127.0.0.1/8", "::1", "203.0.113.0/28", "mail.example.com"])


@pytest.mark.parametrize("given, spelled", [
    ("192.0.2.7", "192.0.2.7"),
    (" 192.0.2.7 ", "192.0.2.7"),
    ("192.0.2.7/32", "192.0.2.7"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("192.0.2.0/255.255.255.0", "192.0.2.0/24"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("2001:db8::/48", "2001:db8::/48"),
    ("2001:db8::1/128", "2001:db8::1"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
])
def test_addresses_and_ranges_are_read_as_fail2ban_lists_them(given, spelled):
    assert addresses.spell(addresses.parse(given)) == spelled


@pytest.mark.parametrize("given", [
    "", " ", "mail.example.com", "192.0.2", "192.0.2.256", "010.0.0.1", "192.0.2.0/33", "2001:db8::/129",
    "192.0.2.7/-1", "fe80::1%eth0", "192.0.2.7,198.51.100.7", "192.0.2.7 198.51.100.7", "-1", "3232235777",
])
def test_anything_else_is_refused_in_one_line(given):
    with pytest.raises(InstallerError) as error:
        addresses.parse(given)
    assert "\n" not in str(error.value)
    assert "is not an IP address or CIDR range" in str(error.value)


def test_a_range_with_address_bits_set_names_the_range_meant():
    with pytest.raises(InstallerError, match=r"192\.0\.2\.5/24 has address bits set after the /24: "
                                             r"did you mean 192\.0\.2\.0/24\?"):
        addresses.parse("192.0.2.5/24")


@pytest.mark.parametrize("given, wide", [
    ("10.0.0.0/16", False), ("10.0.0.0/15", True), ("0.0.0.0/0", True),
    ("2001:db8::/48", False), ("2001:db8::/47", True), ("::/0", True), ("192.0.2.7", False),
])
def test_ranges_wider_than_a_slash_16_or_48_are_too_wide(given, wide):
    assert addresses.too_wide(addresses.parse(given)) is wide


def test_a_too_wide_range_is_refused_unless_forced():
    network = addresses.parse("198.18.0.0/15")
    with pytest.raises(InstallerError, match=r"refusing to ban 198\.18\.0\.0/15: it is wider than /16; add --force"):
        addresses.check_bannable(network, IGNORED)
    addresses.check_bannable(network, IGNORED, force=True)


@pytest.mark.parametrize("given, protected", [
    ("127.0.0.1", "127.0.0.0/8"),
    ("127.255.0.0/16", "127.0.0.0/8"),
    ("::1", "::1"),
    ("::ffff:127.0.0.1", "127.0.0.0/8"),
    ("203.0.113.5", "203.0.113.0/28"),
    ("203.0.113.0/24", "203.0.113.0/28"),
])
def test_nothing_that_overlaps_ignoreip_is_bannable_even_forced(given, protected):
    with pytest.raises(InstallerError, match=f"it overlaps {protected}, which ignoreip says never to ban"):
        addresses.check_bannable(addresses.parse(given), IGNORED, force=True)


def test_the_whole_internet_overlaps_loopback():
    with pytest.raises(InstallerError, match="overlaps 127.0.0.0/8"):
        addresses.check_bannable(addresses.parse("0.0.0.0/0"), IGNORED, force=True)


def test_addresses_next_to_ignoreip_are_bannable():
    for given in ("203.0.113.16", "203.0.113.16/28", "198.51.100.0/24", "2001:db8::/48"):
        addresses.check_bannable(addresses.parse(given), IGNORED)


def test_the_admins_own_ssh_client_is_not_bannable():
    admin = addresses.ssh_client({"SSH_CLIENT": "198.51.100.9 50022 22"})
    assert addresses.spell(admin) == "198.51.100.9"
    with pytest.raises(InstallerError, match=r"your SSH session comes from 198\.51\.100\.9 \(SSH_CLIENT\)"):
        addresses.check_bannable(addresses.parse("198.51.100.0/24"), IGNORED, admin)
    addresses.check_bannable(addresses.parse("198.51.101.0/24"), IGNORED, admin)


@pytest.mark.parametrize("environ", [{}, {"SSH_CLIENT": ""}, {"SSH_CLIENT": "garbage 1 2"}])
def test_no_ssh_client_without_a_readable_ssh_client(environ):
    assert addresses.ssh_client(environ) is None


def test_host_names_in_ignoreip_are_left_out_of_the_comparison():
    assert [str(network) for network in IGNORED] == ["127.0.0.0/8", "::1/128", "203.0.113.0/28"]


@pytest.mark.parametrize("address, public", [
    ("10.0.2.2", False), ("172.17.0.1", False), ("192.168.1.1", False), ("100.64.0.1", False),
    ("127.0.0.1", False), ("fd00::1", False), ("fe80::1", False),
    ("192.0.2.7", True), ("198.51.100.7", True), ("8.8.8.8", True), ("2001:db8::1", True),
])
def test_private_means_behind_a_nat_not_documentation_ranges(address, public):
    assert addresses.is_public(address) is public
