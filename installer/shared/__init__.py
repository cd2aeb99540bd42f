"""What the install pipeline and the qmail-f2b tool both stand on: paths, errors, the one command
runner, digests, the manifest, release facts, fail2ban's client, firewall tools, address rules."""
