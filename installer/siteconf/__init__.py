"""The site configuration: site.conf (paths.SITE_CONF), from the jail table and its spec through
validation (or the first-run dialogue) to the fail2ban files rendered from it."""
