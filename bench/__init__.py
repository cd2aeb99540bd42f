"""Benchmarks of qmail-fail2ban: python -m bench (all parts) or python -m bench.PART."""
