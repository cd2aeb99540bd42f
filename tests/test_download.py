"""download.fetch against servers that misbehave: each run in a network namespace of its own, the server
on its 127.0.0.1, so nothing leaves this machine. Whatever goes wrong, one error and an empty folder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.install import REPO

# Runs inside `unshare --net`: brings lo up, serves one crafted answer per connection, fetches, reports.
SCENARIO = r"""
import json, os, socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
from installer.pipeline import download
from installer.shared.errors import InstallerError
folder, answer, body_bytes = sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
download.SOCKET_TIMEOUT = 2
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
port = server.getsockname()[1]

def serve():
    connection, _ = server.accept()
    connection.recv(65536)
    connection.sendall(answer["head"].encode() + b"x" * body_bytes)
    if answer.get("hang"):
        threading.Event().wait(10)
    connection.close()

threading.Thread(target=serve, daemon=True).start()

def refuse_all(path):
    raise InstallerError("sha256 mismatch (the test's verify)")

verify = refuse_all if answer.get("refuse") else (lambda path: None)
try:
    path = download.fetch(f"http://127.0.0.1:{port}/1.1.1.tar.gz", folder, "fail2ban-1.1.1.tar.gz", verify,
                          "save it by hand", quiet=True)
    outcome = {"path": str(path), "size": os.path.getsize(path)}
except InstallerError as error:
    outcome = {"error": str(error)}
outcome["left"] = sorted(os.listdir(folder)) if os.path.isdir(folder) else None
print(json.dumps(outcome))
"""


def fetch_from(tmp_path, head, body_bytes=0, **answer):
    folder = tmp_path / "usr/local/src"
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", SCENARIO, str(REPO), str(folder),
                             json.dumps(dict(answer, head=head)), str(body_bytes)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), folder


def test_a_complete_verified_download_takes_its_name(tmp_path):
    outcome, folder = fetch_from(tmp_path, "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n", 1000)
    assert outcome == {"path": str(folder / "fail2ban-1.1.1.tar.gz"), "size": 1000,
                       "left": ["fail2ban-1.1.1.tar.gz"]}


@pytest.mark.parametrize("head, body_bytes, answer, words", [
    ("HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n", 400, {}, "stopped after 400 of 1000 bytes"),
    ("HTTP/1.0 200 OK\r\nContent-Length: 999999999\r\n\r\n", 0, {}, "far larger than a release archive"),
    ("HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n", 10, {"hang": True}, "(no answer within 2 s)"),
    ("HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n", 1000, {"refuse": True}, "refusing what http://"),
    ("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, {}, "(HTTP 404 Not Found): save it by hand"),
], ids=["cut short", "too large", "stalled", "refused by verify", "not there"])
def test_a_failed_download_leaves_no_file_and_no_folder_it_made(tmp_path, head, body_bytes, answer, words):
    outcome, folder = fetch_from(tmp_path, head, body_bytes, **answer)
    assert words in outcome.get("error", ""), outcome
    assert outcome["left"] is None and not Path(tmp_path / "usr").exists()
