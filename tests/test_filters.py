"""The filters of filter.d, run through fail2ban's own fail2ban-regex of the staged install.

The staged config dir holds fail2ban's filters with ours installed beside them, so .local files and
common.conf resolve exactly as on a host.
"""

import ipaddress
import re

import pytest

from tests.support import filters as support
from tests.support import logsamples

HANG_GUARD = 300  # seconds; a guard against a hung regex, not a timing assertion
DOCUMENTATION = [ipaddress.ip_network(net) for net in
                 ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
# the webmail host of vchkpw-webmail lines is always 127.0.0.1
NOT_A_CLIENT = {ipaddress.ip_address("127.0.0.1")}
ADDRESS_LIKE = re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
                          r"(?:\d{1,3}(?:\.\d{1,3}){3})?)(?![\w.:])")


def section_log(tmp_path, section):
    path = tmp_path / "section.log"
    path.write_text("".join(sample.line + "\n" for sample in section.samples), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", support.FILTERS)
def test_samples_match_as_annotated(staged, tmp_path, name):
    """Every real failure gives its client's address and time; normal and hostile lines give no other."""
    problems = []
    for section in support.read_samples(support.SAMPLE_DIR / name):
        spec = support.filter_spec(name, section.options)
        found = support.failures(staged, staged.confdir, spec, [sample.line for sample in section.samples],
                                 tmp_path, timeout=HANG_GUARD)
        problems += [f"{spec}: {problem}" for problem in support.mismatches(section, found)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", support.FILTERS)
def test_every_failregex_has_a_sample(staged, tmp_path, name):
    """Each failregex hits a sample, and a section with filter options holds failures only those options read."""
    default, *with_options = support.read_samples(support.SAMPLE_DIR / name)
    report = support.regex_run(staged, staged.confdir, name, section_log(tmp_path, default), "--verbose")
    hits = support.hits_per_regex(report)
    assert hits and all(hits), f"{name}: hits per failregex {hits}"
    for section in with_options:
        without_options = support.failures(staged, staged.confdir, name, [sample.line for sample in section.samples],
                                           tmp_path, timeout=HANG_GUARD)
        theirs = [sample for sample in section.samples
                  if sample.expect["match"] and sample.line not in without_options]
        assert theirs, f"{support.filter_spec(name, section.options)}: its samples are read alike without the options"


@pytest.mark.parametrize("name", support.FILTERS)
def test_samples_have_unique_lines_and_documentation_addresses(name):
    lines = [sample.line for section in support.read_samples(support.SAMPLE_DIR / name)
             for sample in section.samples]
    assert len(lines) == len(set(lines)), "fail2ban-regex output is matched back to lines by their text"
    for line in lines:
        for token in ADDRESS_LIKE.findall(line):
            try:
                address = ipaddress.ip_address(token)
            except ValueError:
                continue
            if getattr(address, "ipv4_mapped", None):
                address = address.ipv4_mapped
            assert address in NOT_A_CLIENT or any(address in net for net in DOCUMENTATION), (token, line[:120])


@pytest.mark.parametrize("name", support.FILTERS)
def test_hostile_300k_lines_give_the_client_or_nothing(staged, tmp_path, name):
    lines = logsamples.hostile_long_lines(name)
    found = support.failures(staged, staged.confdir, name, [line for line, _, _ in lines], tmp_path,
                             timeout=HANG_GUARD)
    wrong = [f"{what}: took {found[line][0] if line in found else None}, expected {host}"
             for line, host, what in lines
             if (found[line][0] if line in found else None) != host]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", support.FILTERS)
def test_hit_table_of_a_generated_log(staged, tmp_path, name):
    """fail2ban-regex reports, per failregex, exactly the failures the generated log holds."""
    log = logsamples.realistic(name, 2000, failure_share=0.05, seed=7)
    path = tmp_path / f"{name}.log"
    path.write_text("".join(line + "\n" for line in log.lines), encoding="utf-8")
    report = support.regex_run(staged, staged.confdir, name, path, "--verbose")
    assert support.hits_per_regex(report) == log.hits
    lines, ignored, matched, missed = support.line_totals(report)
    assert (lines, ignored, matched, missed) == (len(log.lines), 0, log.failures, len(log.lines) - log.failures)
