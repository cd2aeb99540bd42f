"""qmail-f2b: the day-to-day tool that lives on the host (bans, status, ban, unban, log, doctor).
./install ships this package and what it imports, and nothing of the pipeline."""
