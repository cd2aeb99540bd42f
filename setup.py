"""qmail-fail2ban: the installer package, its command qmail-f2b, and the files it puts on a host."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def host_files(folder):
    return [f"{folder}/{path.name}" for path in sorted((HERE / folder).glob("*")) if path.is_file()]


setup(
    name="qmail-fail2ban",
    version="0.1.0",
    description="Build, configure and run fail2ban on a qmail/vpopmail/dovecot/roundcube mail host",
    packages=["installer", "installer.shared", "installer.siteconf", "installer.pipeline", "installer.tool"],
    # Installed under PREFIX/share/qmail-fail2ban, where installer.pipeline.payload looks outside a checkout.
    data_files=[(f"share/qmail-fail2ban/{folder}", host_files(folder))
                for folder in ("rc.d", "logrotate.d", "filter.d", "action.d")]
    + [("share/qmail-fail2ban", ["jail.local.example"])],
    install_requires=["configobj"],
    extras_require={"test": ["pytest", "pytest-testinfra", "pexpect", "ruff"]},
    entry_points={"console_scripts": ["qmail-f2b = installer.tool.cli:main"]},
    python_requires=">=3.7",
)
