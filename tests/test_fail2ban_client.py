"""What we read from fail2ban's client output, as each supported release words it."""

import pytest

from installer.shared.fail2ban import Configuration


@pytest.mark.parametrize("warning", ["Have not found any log file for dovecot jail",        # 1.0.x, 1.1.0
                                     "Have not found any log file for 'dovecot' jail."])    # 1.1.1
def test_jails_without_logs_are_named_as_every_release_words_it(warning):
    assert Configuration([], f"WARNING {warning}\n").jails_without_logs() == ["dovecot"]
