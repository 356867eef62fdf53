"""PI (Physik Instrumente) controllers through their GCS command language, on pyserial.

The subset the instrument needs, for the G2 piezo (E-7xx) and the rotation / sample stages
(C-863 / C-884), one axis per driver. Commands are LF-terminated; commands without a reply
(``MOV``, ``SVO``, ``FRF``, ``VEL``) are followed by ``ERR?`` so a refused one raises at once:

=====================  ==================  ==========================================
command                reply               meaning
=====================  ==================  ==========================================
``*IDN?``              one line            controller identification
``ERR?``               ``n``               last error code, 0 = none (clears it)
``SVO a 1`` / ``0``    --                  servo (closed loop) on / off
``SVO? a``             ``a=1``             servo state
``FRF a``              --                  reference move (stages)
``FRF? a``             ``a=1``             axis referenced
``MOV a x``            --                  absolute move to x (axis units)
``POS? a``             ``a=x``             measured position
``ONT? a``             ``a=1``             on target (move and settling done)
``TMN? a`` / ``TMX? a``  ``a=x``           travel limits
``VEL a v`` / ``VEL? a``  -- / ``a=v``     velocity, units/s
=====================  ==================  ==========================================

A line ending with a space before the LF continues on the next line (multi-line replies).
PI's own ``pipython`` is not needed (and, under PI's licence, never required).
"""

from __future__ import annotations

from gi_instrument.drivers.serial_link import CommandRefused, ControllerError, SerialLink

__all__ = ["PIGCSAxis", "GCS_ERRORS"]

GCS_ERRORS = {1: "parameter syntax error", 2: "unknown command", 5: "servo off or axis not referenced",
              7: "position out of limits", 10: "controller was stopped"}
"""The GCS error codes this driver names (others are reported by number)."""


class PIGCSAxis:
    """One axis (``axis``, e.g. ``"1"`` or ``"A"``) of a GCS controller on a :class:`SerialLink`."""

    family = "pi-gcs"

    def __init__(self, link: SerialLink, axis: str = "1") -> None:
        if not axis or " " in axis:
            raise ValueError(f"axis must be a GCS axis name, got {axis!r}")
        self.link, self.axis = link, axis

    @classmethod
    def open(cls, url: str, *, axis: str = "1", timeout_s: float = 1.0, echo: bool = False) -> "PIGCSAxis":
        """A driver on port ``url`` (any pyserial URL); the port opens on the first command."""
        return cls(SerialLink(url, baudrate=115200, timeout_s=timeout_s, write_terminator=b"\n",
                              read_terminator=b"\n", echo=echo), axis)

    def _query(self, command: str) -> str:
        """All lines of the reply to ``command``, joined by newlines (continuations resolved)."""
        lines = [self.link.query(command)]
        while lines[-1].endswith(" "):
            lines[-1] = lines[-1].rstrip()
            lines.append(self.link.read_line(command))
        return "\n".join(lines)

    def _command(self, command: str) -> None:
        """Send ``command`` (no reply) and check ``ERR?``."""
        self.link.send(command)
        code = self.error_code()
        if code:
            raise CommandRefused(self.link.url, command, f"ERR? {code}",
                                  f"refused: {GCS_ERRORS.get(code, f'GCS error {code}')}")

    def _axis_value(self, command: str) -> str:
        """The ``a=value`` reply of ``command a`` for this axis."""
        full = f"{command} {self.axis}"
        reply = self._query(full)
        name, sep, value = reply.partition("=")
        if not sep or name.strip() != self.axis or not value.strip():
            raise ControllerError(self.link.url, full, reply, f"expected '{self.axis}=<value>'")
        return value.strip()

    def _float(self, command: str) -> float:
        value = self._axis_value(command)
        try:
            return float(value)
        except ValueError:
            raise ControllerError(self.link.url, f"{command} {self.axis}", value, "expected a number") from None

    def _flag(self, command: str) -> bool:
        value = self._axis_value(command)
        if value not in ("0", "1"):
            raise ControllerError(self.link.url, f"{command} {self.axis}", value, "expected 0 or 1")
        return value == "1"

    def identify(self) -> str:
        """``*IDN?``: the controller's identification."""
        return self._query("*IDN?")

    def error_code(self) -> int:
        """``ERR?``: last error code (0: none); reading clears it."""
        reply = self._query("ERR?")
        try:
            return int(reply)
        except ValueError:
            raise ControllerError(self.link.url, "ERR?", reply, "expected an integer") from None

    def set_servo(self, on: bool) -> None:
        """Closed-loop servo on / off."""
        self._command(f"SVO {self.axis} {int(on)}")

    def servo_on(self) -> bool:
        """True while the servo is on (a rebooted controller comes back with it off)."""
        return self._flag("SVO?")

    def reference(self) -> None:
        """Start a reference move (stages without absolute encoders)."""
        self._command(f"FRF {self.axis}")

    def referenced(self) -> bool:
        """True once the axis is referenced."""
        return self._flag("FRF?")

    def move(self, position: float) -> None:
        """Absolute move (axis units); returns at once, see :meth:`on_target`."""
        self._command(f"MOV {self.axis} {position:.6f}")

    def position(self) -> float:
        """Measured position (axis units)."""
        return self._float("POS?")

    def on_target(self) -> bool:
        """True when the last move has ended and settled."""
        return self._flag("ONT?")

    def travel_limits(self) -> tuple[float, float]:
        """(low, high) travel of the axis (axis units)."""
        return self._float("TMN?"), self._float("TMX?")

    def set_velocity(self, velocity: float) -> None:
        """Velocity, axis units per s."""
        self._command(f"VEL {self.axis} {velocity:.6f}")

    def velocity(self) -> float:
        """Velocity, axis units per s."""
        return self._float("VEL?")
