"""The qmail-smtp filter on a whole generated log of sagredo's qmail-smtpd (qlogenvelope lines beside
the older ones, multilog's human-readable stamps): fail2ban-regex counts, per failregex, exactly the
failures the log holds, each with its line's address and time.
"""

from tests.support import filters as support
from tests.support import logsamples


def test_hit_table_of_a_generated_sagredo_smtpd_log(staged, tmp_path):
    log = logsamples.realistic("qmail-smtp-sagredo", 2000, failure_share=0.05, seed=11)
    path = tmp_path / "current"
    path.write_text("".join(line + "\n" for line in log.lines), encoding="utf-8")
    report = support.regex_run(staged, staged.confdir, "qmail-smtp", path, "--verbose")
    assert support.hits_per_regex(report) == log.hits
    lines, ignored, matched, missed = support.line_totals(report)
    assert (lines, ignored, matched, missed) == (len(log.lines), 0, log.failures, len(log.lines) - log.failures)


def test_the_failures_of_a_sagredo_smtpd_log_are_read_with_their_time(staged, tmp_path):
    log = logsamples.realistic("qmail-smtp-sagredo", 300, failure_share=0.3, seed=12)
    found = support.failures(staged, staged.confdir, "qmail-smtp", log.lines, tmp_path)
    assert len(found) == log.failures
    for line, (address, epoch) in found.items():
        stamp = line[:len("2024-05-01 00:00:00")]
        assert support.same_time(support.Sample(line, {"time": stamp.replace(" ", "T")}, 0), epoch), line
        assert address in line, line
