"""A TCP socket on loopback that speaks a line protocol, with faults on demand.

A driver reaches it as ``socket://127.0.0.1:PORT`` through pyserial, as it would reach a
controller behind a terminal server. Faults (for the tests and rehearsals):

- :meth:`LineServer.inject` ``("garbage" | "partial" | "silence", count)``: the next ``count``
  replies are undecodable bytes, half a reply without its terminator, or nothing;
- :attr:`LineServer.silent`: the controller stops answering until cleared;
- :meth:`LineServer.reboot`: the connection drops and the controller comes back in its power-on
  state (:meth:`LineServer.power_on`, e.g. servo off, X-rays off);
- :meth:`LineServer.unplug` / :meth:`LineServer.plug`: the cable is pulled (connection closed,
  new connections refused) and plugged back in.
"""

from __future__ import annotations

import socket
import threading
from collections import deque

__all__ = ["LineServer", "FAULTS"]

FAULTS = ("garbage", "partial", "silence")
GARBAGE = b"\xff\xfe\x00#\x9c"


class LineServer:
    """Serve ``handle(line) -> reply | None`` on ``127.0.0.1:port`` (0: a free port), one client
    at a time. Subclasses set ``terminator`` and implement :meth:`handle` and :meth:`power_on`."""

    terminator = b"\r"

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.silent = False
        self.commands: list[str] = []
        """Every command received, in order (for tests)."""
        self._faults: deque[str] = deque()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.power_on()

    @property
    def url(self) -> str:
        """The pyserial URL of this controller."""
        return f"socket://{self.host}:{self.port}"

    def power_on(self) -> None:
        """Put the controller in its power-on state."""

    def handle(self, line: str) -> str | None:
        """The reply to one command line (without terminators), None for no reply."""
        raise NotImplementedError

    def inject(self, fault: str, count: int = 1) -> None:
        """Spoil the next ``count`` replies with ``fault`` (one of :data:`FAULTS`)."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
        with self.lock:
            self._faults.extend([fault] * count)

    def clear_faults(self) -> None:
        """Replies are good again (faults injected and not yet spent are dropped)."""
        with self.lock:
            self._faults.clear()

    def reboot(self) -> None:
        """Drop the connection; the controller comes back in its power-on state."""
        with self.lock:
            self._drop_connections()
            self._faults.clear()
            self.power_on()

    def unplug(self) -> None:
        """Pull the cable: the connection closes and no new one is accepted until :meth:`plug`."""
        with self.lock:
            if self._listener is not None:
                try:
                    self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            self._drop_connections()

    def plug(self) -> None:
        """Plug the cable back in (same port)."""
        with self.lock:
            if self._listener is None:
                self._listen()

    def start(self) -> "LineServer":
        """Listen and serve in background threads."""
        self._listen()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._stop.set()
        self.unplug()

    def __enter__(self) -> "LineServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"emulator-{self.port}").start()

    def _drop_connections(self) -> None:
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # unplugged or stopped
            with self.lock:
                self._drop_connections()  # one client at a time, like a serial line
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while self.terminator in buffer:
                raw, buffer = buffer.split(self.terminator, 1)
                reply = self._reply(raw.decode("ascii", errors="replace").strip())
                if reply:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def _reply(self, line: str) -> bytes:
        with self.lock:
            if self.silent:                  # a controller that stopped answering executes nothing
                return b""
            self.commands.append(line)
            text = self.handle(line)
            if text is None:
                return b""
            payload = text.encode("ascii") + self.terminator
            fault = self._faults.popleft() if self._faults else None
        if fault == "garbage":
            return GARBAGE + self.terminator
        if fault == "partial":
            return payload[: max(1, len(payload) // 2)].rstrip(self.terminator)
        if fault == "silence":
            return b""
        return payload
