"""A small SMTP receiver that keeps every message it is given, for the end-to-end tests.

    python3 smtp_sink.py SPOOL PORT [PORT...]

It listens on every given port of every address (IPv4 and IPv6) and stores each message as
SPOOL/NNNNNN.json: {"mail_from": ..., "rcpt_to": [...], "data": ...}. Once it listens it writes
its pid to SPOOL/pid. The throwaway host's sendmail (msmtp) delivers to it on port 25; the other
ports stand in for services that are not really there (qmail's, the web server's), so that a
port the firewall blocks can be told from a port nobody listens on.
"""

import asyncio
import itertools
import json
import os
import socket
import sys
from pathlib import Path

# Enough for any alert; a client that sends more is cut off rather than filling the disk.
MAX_MESSAGE = 1024 * 1024
IDLE_SECONDS = 60


class Spool:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.numbers = itertools.count(1)

    def keep(self, mail_from, rcpt_to, data):
        message = {"mail_from": mail_from, "rcpt_to": rcpt_to, "data": data}
        name = f"{next(self.numbers):06d}.json"
        partial = self.folder / f".{name}"
        partial.write_text(json.dumps(message))
        # Readers see whole messages only.
        partial.rename(self.folder / name)


def address_in(argument):
    """The address in "FROM:<a@b>" or "TO:<a@b> SIZE=12"."""
    value = argument.split(":", 1)[1].strip() if ":" in argument else ""
    return value.split()[0].strip("<>") if value else ""


async def read_line(reader):
    return (await asyncio.wait_for(reader.readline(), IDLE_SECONDS)).decode("utf-8", "replace")


async def read_data(reader):
    lines = []
    size = 0
    while True:
        line = await read_line(reader)
        if not line or line.rstrip("\r\n") == ".":
            return "".join(lines), bool(line)
        size += len(line)
        if size > MAX_MESSAGE:
            return None, False
        lines.append(line[1:] if line.startswith("..") else line)


async def session(spool, reader, writer):
    def reply(text):
        writer.write(f"{text}\r\n".encode())

    mail_from, rcpt_to = None, []
    reply("220 sink ESMTP ready")
    try:
        while True:
            await writer.drain()
            line = await read_line(reader)
            if not line:
                break
            verb, _, argument = line.strip().partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                reply("250 sink")
            elif verb == "MAIL":
                mail_from, rcpt_to = address_in(argument), []
                reply("250 ok")
            elif verb == "RCPT" and mail_from is not None:
                rcpt_to.append(address_in(argument))
                reply("250 ok")
            elif verb == "DATA" and rcpt_to:
                reply("354 end with .")
                await writer.drain()
                data, complete = await read_data(reader)
                if not complete:
                    break
                spool.keep(mail_from, rcpt_to, data)
                mail_from, rcpt_to = None, []
                reply("250 kept")
            elif verb == "RSET":
                mail_from, rcpt_to = None, []
                reply("250 ok")
            elif verb == "NOOP":
                reply("250 ok")
            elif verb == "QUIT":
                reply("221 bye")
                break
            else:
                reply("503 bad sequence of commands")
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(folder, ports):
    spool = Spool(folder)
    servers = []
    for port in ports:
        # One dual-stack socket per port: IPv4 clients arrive as ::ffff:a.b.c.d.
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", port))
        servers.append(await asyncio.start_server(lambda r, w: session(spool, r, w), sock=listener))
    (Path(folder) / "pid").write_text(f"{os.getpid()}\n")
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv):
    if len(argv) < 2 or not all(port.isdigit() for port in argv[1:]):
        print("usage: smtp_sink.py SPOOL PORT [PORT...]", file=sys.stderr)
        return 2
    Path(argv[0]).mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(argv[0], [int(port) for port in argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
