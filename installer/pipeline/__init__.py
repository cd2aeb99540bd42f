"""./install: build fail2ban from a release tarball and put it, our files and the site's
configuration on a root in one transaction; --uninstall takes it all away. Runs from a checkout
and is never shipped to the host."""
