"""ssh's ProxyCommand into the fleet lab: run (through nsenter) in the switch's network namespace, it
connects to HOST PORT from there and copies bytes both ways between that connection and its
stdin/stdout. The controller's ssh thus reaches the hosts over br0, as it would over a real network,
while ssh itself and everything else of the controller stay in this machine's namespaces.

    python3 netns_relay.py HOST PORT
"""

import os
import selectors
import socket
import sys
import time

# No ssh session of the tests lasts this long: a relay whose ssh is gone ends anyway.
LIFETIME_SECONDS = 3600
CHUNK = 65536


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def relay(host, port):
    connection = socket.create_connection((host, port), timeout=10)
    connection.settimeout(None)
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "ssh")
    selector.register(connection, selectors.EVENT_READ, "host")
    deadline = time.monotonic() + LIFETIME_SECONDS
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=5):
            if key.data == "ssh":
                data = os.read(key.fd, CHUNK)
                if data:
                    connection.sendall(data)
                else:
                    selector.unregister(key.fd)
                    connection.shutdown(socket.SHUT_WR)
            else:
                data = connection.recv(CHUNK)
                if not data:
                    return 0
                write_all(sys.stdout.fileno(), data)
    return 1


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], int(sys.argv[2])))
