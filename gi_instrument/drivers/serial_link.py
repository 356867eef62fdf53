"""One line-oriented serial link to a controller, on pyserial.

What crosses the wire: ASCII commands ended by a write terminator, replies ended by a read
terminator; nothing else. The port is any pyserial URL (``/dev/ttyUSB0``, ``COM3``,
``socket://host:port`` for a terminal server or an emulator, ``loop://`` for a loopback), opened
with :func:`serial.serial_for_url`. Every exchange has a timeout; a controller that echoes its
commands has the echo stripped; stale bytes (the tail of an earlier, broken reply) are flushed
before each command. Any failure (port gone, no reply, a partial or undecodable reply) raises
:class:`ControllerError` naming the port, the command and what came back, and closes the port so
the next exchange reopens it (a cable plugged back in is picked up without a restart).
"""

from __future__ import annotations

import threading

import serial

__all__ = ["SerialLink", "ControllerError", "CommandRefused"]


class ControllerError(RuntimeError):
    """A controller failed a command: no reply, a garbled or partial one, or an error reply.

    ``command`` and ``reply`` (None when nothing came back) say what was exchanged.
    """

    def __init__(self, port: str, command: str, reply: str | None, why: str) -> None:
        self.port, self.command, self.reply, self.why = port, command, reply, why
        got = "no reply" if reply is None else f"reply {reply!r}"
        super().__init__(f"{port}: command {command!r}: {why} ({got})")


class CommandRefused(ControllerError):
    """The controller answered, refusing the command (out of range, interlock open, servo off):
    the link is fine."""


class SerialLink:
    """A serial port speaking one command / one reply line at a time (thread-safe).

    Args:
        url: pyserial port or URL.
        baudrate: bits per second (ignored by ``socket://``).
        timeout_s: longest wait for a reply, s.
        write_terminator / read_terminator: bytes ending a command / a reply line.
        echo: the controller sends each command back before its reply.
        encoding: character set of the protocol.
    """

    def __init__(self, url: str, *, baudrate: int = 9600, timeout_s: float = 1.0, write_terminator: bytes = b"\r",
                 read_terminator: bytes = b"\r", echo: bool = False, encoding: str = "ascii") -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.url, self.baudrate, self.timeout_s = url, baudrate, timeout_s
        self.write_terminator, self.read_terminator = write_terminator, read_terminator
        self.echo, self.encoding = echo, encoding
        self._port: serial.SerialBase | None = None
        self._lock = threading.RLock()

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._port is not None and self._port.is_open

    def open(self) -> None:
        """Open the port (idempotent); ControllerError if it cannot be opened."""
        with self._lock:
            if self.is_open:
                return
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=self.timeout_s,
                                                   write_timeout=self.timeout_s)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._port = None
                raise ControllerError(self.url, "(open)", None, f"cannot open the port: {exc}") from exc

    def close(self) -> None:
        """Close the port (idempotent)."""
        with self._lock:
            if self._port is not None:
                try:
                    self._port.close()
                except (serial.SerialException, OSError):
                    pass
                self._port = None

    def send(self, command: str) -> None:
        """Send ``command`` that has no reply."""
        with self._lock:
            self._write(command)
            if self.echo:
                self._expect_echo(command)

    def query(self, command: str) -> str:
        """Send ``command`` and return its one-line reply, without the terminator."""
        with self._lock:
            self._write(command)
            if self.echo:
                self._expect_echo(command)
            return self._read_line(command)

    def read_line(self, command: str) -> str:
        """Read one more reply line of ``command`` (multi-line replies)."""
        with self._lock:
            return self._read_line(command)

    def _fail(self, command: str, reply: str | None, why: str, exc: Exception | None = None) -> ControllerError:
        self.close()
        error = ControllerError(self.url, command, reply, why)
        error.__cause__ = exc
        return error

    def _write(self, command: str) -> None:
        self.open()
        assert self._port is not None
        try:
            self._port.reset_input_buffer()
            self._port.write(command.encode(self.encoding) + self.write_terminator)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._fail(command, None, f"write failed: {exc}", exc) from exc

    def _read_line(self, command: str) -> str:
        assert self._port is not None
        try:
            raw = self._port.read_until(self.read_terminator)
        except (serial.SerialException, OSError) as exc:
            raise self._fail(command, None, f"read failed: {exc}", exc) from exc
        if not raw:
            raise self._fail(command, None, f"no reply within {self.timeout_s} s")
        text = raw.decode(self.encoding, errors="backslashreplace")  # quoted in messages: ASCII only
        if not raw.endswith(self.read_terminator):
            raise self._fail(command, text, f"partial reply (no terminator within {self.timeout_s} s)")
        line = raw[: -len(self.read_terminator)]
        try:
            decoded = line.decode(self.encoding)
        except UnicodeDecodeError:
            decoded = ""
        if not decoded.isprintable() or (line and not decoded):
            raise self._fail(command, text[: -len(self.read_terminator)], "garbled reply")
        return decoded

    def _expect_echo(self, command: str) -> None:
        echoed = self._read_line(command)
        if echoed != command:
            raise self._fail(command, echoed, "expected the command's echo")
