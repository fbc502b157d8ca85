"""A ClamAV client: clamd's ``INSTREAM`` and ``PING`` over its socket (stdlib only, no Flask).

The protocol (clamd(8)): connect to clamd's unix socket or TCP port, send
``zINSTREAM\\0``, then the data as chunks each preceded by its length (4 bytes,
network order), then a zero length; clamd answers one NUL-terminated line:
``stream: OK``, ``stream: <signature> FOUND`` or ``… ERROR`` (for instance
``INSTREAM size limit exceeded. ERROR`` when the file is larger than clamd's
``StreamMaxLength``).

Anything but a clean or an infected answer — no socket, a timeout, an ERROR line, a
connection closed early — raises :class:`ClamdUnavailable`: the caller refuses the
file (fail closed). Nothing here logs; the callers log without the file's content or name.
"""

from __future__ import annotations

import socket
import struct

from helpdesk.config import parse_clamd_address

CHUNK = 65_536


class ClamdUnavailable(Exception):
    """clamd could not be reached or did not give a verdict."""


class Clamd:
    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address = address
        self.kind, self.target = parse_clamd_address(address)
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        family = socket.AF_UNIX if self.kind == "unix" else socket.AF_INET
        try:
            if self.kind == "tcp":
                return socket.create_connection(self.target, timeout=self.timeout)  # type: ignore[arg-type]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.target)
            except BaseException:
                sock.close()
                raise
            return sock
        except OSError as exc:
            raise ClamdUnavailable(f"cannot connect: {type(exc).__name__}") from None

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        buf = b""
        while not buf.endswith(b"\0"):
            part = sock.recv(4096)
            if not part:
                break
            buf += part
            if len(buf) > 65_536:
                break
        if not buf:
            raise ClamdUnavailable("no answer")
        return buf.rstrip(b"\0").decode("utf-8", "replace").strip()

    def ping(self) -> bool:
        """True when clamd answers PONG; ClamdUnavailable otherwise."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zPING\0")
                answer = self._reply(sock)
            except OSError as exc:
                raise ClamdUnavailable(f"ping failed: {type(exc).__name__}") from None
        if answer != "PONG":
            raise ClamdUnavailable("unexpected answer to PING")
        return True

    def scan(self, data: bytes) -> str | None:
        """None when clamd finds ``data`` clean, else the signature name it reports."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                view = memoryview(data)
                for start in range(0, len(view), CHUNK):
                    chunk = view[start:start + CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
            except OSError:
                pass  # clamd may close early (size limit): its answer says why
            try:
                answer = self._reply(sock)
            except OSError as exc:
                raise ClamdUnavailable(f"no verdict: {type(exc).__name__}") from None
        if answer.endswith(" FOUND"):
            name = answer.removeprefix("stream:").removesuffix(" FOUND").strip()
            return name or "unknown"
        if answer == "stream: OK":
            return None
        if answer.endswith("ERROR") and "size limit" in answer:
            raise ClamdUnavailable("the file is larger than clamd's StreamMaxLength")
        raise ClamdUnavailable("clamd answered an error")
