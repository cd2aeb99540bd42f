"""qmail-fail2ban: the installer package, its command qmail-f2b, and the files it puts on a host."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def host_files(folder):
    return [path.as_posix() for path in sorted((HERE / folder).glob("*")) if path.is_file()]


setup(
    name="qmail-fail2ban",
    version="0.1.0",
    description="Build, configure and run fail2ban on a qmail/vpopmail/dovecot/roundcube mail host",
    packages=["installer"],
    package_data={"installer": ["*.spec"]},
    # Installed under PREFIX/share/qmail-fail2ban, where installer.payload looks outside a checkout.
    data_files=[(f"share/qmail-fail2ban/{folder}", [f"{folder}/{path.rsplit('/', 1)[-1]}" for path in host_files(folder)])
                for folder in ("rc.d", "logrotate.d", "filter.d", "action.d")]
    + [("share/qmail-fail2ban", ["jail.local.example"])],
    install_requires=["configobj"],
    extras_require={"test": ["pytest", "pytest-testinfra", "pexpect"]},
    entry_points={"console_scripts": ["qmail-f2b = installer.cli:main"]},
    python_requires=">=3.7",
)
