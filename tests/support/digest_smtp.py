"""A real SMTP server in the test process (aiosmtpd), recording what it accepts; it can refuse on demand."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

RESET = "reset"  # Recorder.quit_reply: reset the connection (TCP RST) instead of answering QUIT


class Recorder:
    """The server's DATA handler: keeps every accepted message; refuses the next `refuse` ones with `reply`
    (a negative `refuse` refuses every message), and every message to an address in `refuse_to`. `quit_reply`
    is the answer to QUIT (None: "221 Bye"; RESET: the connection is reset without an answer)."""

    def __init__(self, delay_seconds: float = 0.0):
        self.messages: list[EmailMessage] = []
        self.refuse = 0
        self.reply = "451 4.3.0 Try again later"
        self.refuse_to: set[str] = set()
        self.quit_reply: str | None = None
        self.quits = 0
        self.delay_seconds = delay_seconds
        self._lock = threading.Lock()

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        if self.quit_reply == RESET:
            sock = server.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
            server.transport.abort()
            return "221 Bye"  # written to a closed connection: never arrives
        return self.quit_reply or "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_seconds:  # a slow server makes two senders overlap
            await asyncio.sleep(self.delay_seconds)
        with self._lock:
            if self.refuse_to & set(envelope.rcpt_tos):
                return self.reply
            if self.refuse:  # a negative count refuses for ever
                self.refuse -= self.refuse > 0
                return self.reply
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return True
            time.sleep(0.05)
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(recorder: Recorder | None = None, port: int | None = None, **kwargs):
    """Yields (recorder, port) while a server listens on 127.0.0.1 (on `port`, to bring a stopped one back)."""
    recorder = recorder or Recorder()
    port = port or free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 that no system trust store knows (openssl's command line)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class HoldingRecorder(Recorder):
    """A server that stalls on the first message's DATA until the test releases it, so the test can kill the
    sender while it waits. accept=False: the message is never accepted (the sender died mid-send, nothing was
    delivered); accept=True: the message is recorded as delivered, then the "250" reply is held (the sender dies
    after the server accepted it but before it could record "sent": the README's duplicate window)."""

    def __init__(self, accept: bool = False):
        super().__init__()
        self.accept = accept
        self.holding = threading.Event()  # set while the first message is being held
        self.release = threading.Event()
        self.held: EmailMessage | None = None
        self._held_once = False

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            hold, self._held_once = not self._held_once, True
        if not hold:
            return await super().handle_DATA(server, session, envelope)
        self.held = message_from_bytes(envelope.content, policy=policy.default)
        if self.accept:
            with self._lock:
                self.messages.append(self.held)
        self.holding.set()
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        return "250 2.0.0 Accepted" if self.accept else "421 4.3.2 Shutting down"
