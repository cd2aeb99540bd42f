"""What the end-to-end tests do over the network, run inside a network namespace.

    python3 client.py logins imap|pop3 SERVER COUNT USER PASSWORD
        COUNT connections at once, each trying USER/PASSWORD once; prints "ok", "failed" or
        "error: ..." per connection. Dovecot logs one failure line per connection.
    python3 client.py probe SERVER PORT [PORT...] [--source ADDRESS]
        prints "PORT open|refused|timeout|error: ..." per port: open means the service greeted us.
    python3 client.py hold SERVER PORT COUNT SECONDS [--source ADDRESS]
        COUNT idle connections at once, each greeted; prints "held COUNT", then "closed INDEX" as
        the server ends each, and after SECONDS "open N" (the connections still open).
    python3 client.py until-blocked SERVER PORT SECONDS [--source ADDRESS]
        connects again and again until a connection is refused or times out: prints "blocked TIME"
        (the wall clock, time.time()) then, or "open" after SECONDS.

Only the standard library. Every network wait is bounded.
"""

import argparse
import imaplib
import poplib
import select
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

CONNECT_SECONDS = 3
# Dovecot answers a failed login after auth_failure_delay (2 s), more while it penalizes the client.
LOGIN_SECONDS = 20


def imap_login(server, user, password):
    client = imaplib.IMAP4(server, timeout=LOGIN_SECONDS)
    try:
        client.login(user, password)
        client.logout()
        return "ok"
    except imaplib.IMAP4.error:
        client.logout()
        return "failed"


def pop3_login(server, user, password):
    client = poplib.POP3(server, timeout=LOGIN_SECONDS)
    try:
        client.user(user)
        client.pass_(password)
        client.quit()
        return "ok"
    except poplib.error_proto:
        client.quit()
        return "failed"


LOGINS = {"imap": imap_login, "pop3": pop3_login}


def attempt(function, *args):
    try:
        return function(*args)
    except (OSError, EOFError, imaplib.IMAP4.abort, poplib.error_proto) as error:
        return f"error: {error!r}"


def logins(args):
    function = LOGINS[args.protocol]
    with ThreadPoolExecutor(args.count) as pool:
        results = list(pool.map(lambda _: attempt(function, args.server, args.user, args.password),
                                range(args.count)))
    print("\n".join(results))


def probe_port(server, port, source=None, timeout=CONNECT_SECONDS):
    try:
        with socket.create_connection((server, port), timeout=timeout,
                                      source_address=(source, 0) if source else None) as sock:
            sock.settimeout(timeout)
            greeting = sock.recv(512)
            return "open" if greeting else "error: closed without a greeting"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as error:
        return f"error: {error!r}"


def probe(args):
    with ThreadPoolExecutor(len(args.ports)) as pool:
        states = list(pool.map(lambda port: probe_port(args.server, port, args.source), args.ports))
    for port, state in zip(args.ports, states):
        print(port, state)


def hold(args):
    connections = []
    for _ in range(args.count):
        sock = socket.create_connection((args.server, args.port), timeout=CONNECT_SECONDS,
                                        source_address=(args.source, 0) if args.source else None)
        sock.settimeout(CONNECT_SECONDS)
        if not sock.recv(512):
            raise SystemExit("closed without a greeting")
        connections.append(sock)
    print(f"held {len(connections)}", flush=True)
    open_ones = dict(enumerate(connections))
    deadline = time.monotonic() + args.seconds
    while open_ones and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_ones.values()), [], [], min(0.1, deadline - time.monotonic()))
        for index, sock in list(open_ones.items()):
            if sock not in readable:
                continue
            try:
                ended = not sock.recv(512)
            except OSError:
                ended = True
            if ended:
                print(f"closed {index}", flush=True)
                del open_ones[index]
    print(f"open {len(open_ones)}", flush=True)


def until_blocked(args):
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        if probe_port(args.server, args.port, args.source, timeout=0.5) in ("refused", "timeout"):
            print(f"blocked {time.time():.3f}", flush=True)
            return
        time.sleep(0.05)
    print("open", flush=True)


def main(argv):
    parser = argparse.ArgumentParser(prog="client.py")
    commands = parser.add_subparsers(dest="command", required=True)
    login_parser = commands.add_parser("logins")
    login_parser.add_argument("protocol", choices=sorted(LOGINS))
    login_parser.add_argument("server")
    login_parser.add_argument("count", type=int)
    login_parser.add_argument("user")
    login_parser.add_argument("password")
    probe_parser = commands.add_parser("probe")
    probe_parser.add_argument("server")
    probe_parser.add_argument("ports", type=int, nargs="+")
    probe_parser.add_argument("--source")
    hold_parser = commands.add_parser("hold")
    hold_parser.add_argument("server")
    hold_parser.add_argument("port", type=int)
    hold_parser.add_argument("count", type=int)
    hold_parser.add_argument("seconds", type=float)
    hold_parser.add_argument("--source")
    blocked_parser = commands.add_parser("until-blocked")
    blocked_parser.add_argument("server")
    blocked_parser.add_argument("port", type=int)
    blocked_parser.add_argument("seconds", type=float)
    blocked_parser.add_argument("--source")
    args = parser.parse_args(argv)
    {"logins": logins, "probe": probe, "hold": hold, "until-blocked": until_blocked}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
