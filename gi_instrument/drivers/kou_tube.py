"""Micro-focus X-ray tube controllers with the Hamamatsu/KOU-style ASCII command set.

Commands (CR-terminated, one reply line each, CR-terminated; the reply repeats the command's
three letters):

====================  ===================  ===============================================
command               reply                meaning
====================  ===================  ===============================================
``HIV n``             ``HIV n``            high-voltage setpoint, kV (integer)
``CUR n``             ``CUR n``            tube-current setpoint, uA (integer)
``XON`` / ``XOF``     ``XON`` / ``XOF``    X-rays on / off
``STS``               ``STS s``            state, see :data:`STATES`
``SHV`` / ``SCU``     ``SHV n``/``SCU n``  setpoints read back (kV / uA)
``SPV`` / ``SPC``     ``SPV n``/``SPC n``  measured voltage (kV) / current (uA)
``SER``               ``SER e``            last error code, 0 = none (see :data:`ERRORS`)
``WUP``               ``WUP``              start the warm-up (state 1 until warm)
``SIN``               ``SIN i``            interlock: 1 closed (safe to emit), 0 open
====================  ===================  ===============================================

A refused command is answered ``ERR e``. Models differ in details (units of ``CUR``, extra
states): a model is a subclass overriding :meth:`KouTube.parse_state` or the unit factors; a
controller with another command set (e.g. the MAAST source's) is one more module with the same
public methods (see :class:`gi_instrument.drivers.TubeDriver`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gi_instrument.drivers.serial_link import CommandRefused, ControllerError, SerialLink

__all__ = ["KouTube", "TubeStatus", "STATES", "ERRORS"]

STATES = {0: "cold", 1: "warming up", 2: "ready", 3: "X-rays on", 4: "overload", 5: "interlock open"}
"""``STS`` codes."""
ERRORS = {1: "unknown command", 2: "value out of range", 3: "interlock open", 4: "not warmed up",
          5: "overload"}
"""``ERR`` / ``SER`` codes."""


@dataclass(frozen=True)
class TubeStatus:
    """One poll of the controller: state, setpoints and measured values (kV, mA)."""

    state: str
    voltage_setpoint_kV: float
    current_setpoint_mA: float
    voltage_kV: float
    current_mA: float
    interlock_closed: bool

    @property
    def xray_on(self) -> bool:
        """True while X-rays are on (an overload leaves them switched on but without high voltage)."""
        return self.state in ("X-rays on", "overload")

    @property
    def warmed_up(self) -> bool:
        """True once the controller no longer needs a warm-up."""
        return self.state not in ("cold", "warming up")


class KouTube:
    """A KOU-style tube controller on a :class:`SerialLink` (CR terminators)."""

    family = "kou"
    kv_per_unit = 1.0
    """kV per unit of ``HIV`` / ``SHV`` / ``SPV``."""
    ma_per_unit = 1e-3
    """mA per unit of ``CUR`` / ``SCU`` / ``SPC`` (uA on the wire)."""

    def __init__(self, link: SerialLink) -> None:
        self.link = link

    @classmethod
    def open(cls, url: str, *, timeout_s: float = 1.0, echo: bool = False) -> "KouTube":
        """A driver on port ``url`` (any pyserial URL); the port opens on the first command."""
        return cls(SerialLink(url, baudrate=38400, timeout_s=timeout_s, write_terminator=b"\r",
                              read_terminator=b"\r", echo=echo))

    def _ask(self, command: str) -> str:
        """Send ``command``; its reply's value (text after the three letters), checked."""
        reply = self.link.query(command)
        head, _, value = reply.partition(" ")
        if head == "ERR":
            code = _int(self.link, command, reply, value)
            raise CommandRefused(self.link.url, command, reply, f"refused: {ERRORS.get(code, f'error {code}')}")
        if head != command[:3]:
            raise ControllerError(self.link.url, command, reply, f"expected a reply starting {command[:3]!r}")
        return value

    def _number(self, command: str) -> int:
        value = self._ask(command)
        return _int(self.link, command, f"{command} {value}", value)

    def parse_state(self, code: int) -> str:
        """Name of an ``STS`` code."""
        if code not in STATES:
            raise ValueError(f"unknown state {code}")
        return STATES[code]

    def state(self) -> str:
        """Controller state (a value of :data:`STATES`)."""
        code = self._number("STS")
        try:
            return self.parse_state(code)
        except ValueError as exc:
            raise ControllerError(self.link.url, "STS", f"STS {code}", str(exc)) from exc

    def status(self) -> TubeStatus:
        """State, setpoints, measured values and interlock in one poll."""
        return TubeStatus(state=self.state(),
                          voltage_setpoint_kV=self._number("SHV") * self.kv_per_unit,
                          current_setpoint_mA=self._number("SCU") * self.ma_per_unit,
                          voltage_kV=self._number("SPV") * self.kv_per_unit,
                          current_mA=self._number("SPC") * self.ma_per_unit,
                          interlock_closed=self.interlock_closed())

    def set_voltage(self, kV: float) -> None:
        """High-voltage setpoint, kV (rounded to the controller's unit)."""
        self._ask(f"HIV {round(kV / self.kv_per_unit)}")

    def set_current(self, mA: float) -> None:
        """Tube-current setpoint, mA (rounded to the controller's unit)."""
        self._ask(f"CUR {round(mA / self.ma_per_unit)}")

    def xray_on(self) -> None:
        """Switch X-rays on (ControllerError if refused: interlock open, cold tube)."""
        self._ask("XON")

    def xray_off(self) -> None:
        """Switch X-rays off."""
        self._ask("XOF")

    def warm_up(self) -> None:
        """Start the warm-up; :meth:`state` is "warming up" until it is done."""
        self._ask("WUP")

    def interlock_closed(self) -> bool:
        """True when the interlock is closed (safe to emit)."""
        return bool(self._number("SIN"))

    def error_code(self) -> int:
        """Last error code (0: none)."""
        return self._number("SER")


def _int(link: SerialLink, command: str, reply: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ControllerError(link.url, command, reply, "expected an integer") from None
