"""Instrument profiles: every number of a set-up in one TOML file, validated on load.

A profile (``profiles/tli.toml``, ``profiles/maast.toml``) holds the numbers of the source paper
with their units in the key names. :func:`load_profile` checks types, ranges and the cross-field
consistency (steps x step size = G2 period, tube power within limits, ...) and raises
:class:`ProfileError` naming the file and the field. Quantities that follow from others (voxel
size, projection and reference counts, distances) are computed properties, never typed in.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

__all__ = [
    "ProfileError",
    "Profile",
    "load_profile",
    "profile_from_dict",
    "check_field",
    "PROFILE_NAMES",
    "RECOVERY_DEFAULTS",
    "whole_multiple",
]

PROFILE_NAMES = ("tli", "maast")
_REL_TOL = 1e-6


class ProfileError(ValueError):
    """A profile file is missing, malformed or inconsistent; names the file and the field."""

    def __init__(self, source: str, field_path: str, message: str) -> None:
        self.source = source
        self.field_path = field_path
        super().__init__(f"{source}: [{field_path}] {message}")


def _num(lo: float | None = None, hi: float | None = None, *, lo_open: bool = True,
         default: float | None = None) -> Any:
    """A numeric field with an allowed range (open below by default: > lo; closed above: <= hi);
    with a ``default``, the field may be left out of the file."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open}
    return field(metadata=meta) if default is None else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Source:
    """The X-ray tube."""

    kind: Literal["microfocus", "maast"]
    """``microfocus`` (with a G0 source grating) or ``maast`` (structured anode, no G0)."""
    voltage_kV: float = _num(5, 200)
    """Operating high voltage, kV."""
    current_mA: float = _num(1e-3, 100)
    """Operating tube current, mA."""
    power_W: float = _num(0.01, 10000)
    """Deposited power at the operating point, W (must equal kV x mA)."""
    spot_size_um: float = _num(0.1, 1000)
    """Source (focal spot) size, um (the simulator's Gaussian spot has this FWHM)."""
    design_energy_keV: float = _num(1, 200)
    """Design energy of the interferometer, keV."""
    max_voltage_kV: float = _num(5, 200)
    """Highest high voltage the tube accepts, kV."""
    max_current_mA: float = _num(1e-3, 100)
    """Highest current the tube accepts, mA."""
    max_power_W: float = _num(0.01, 10000)
    """Highest power the target accepts, W."""
    warmup_s: float = _num(0, 36000, lo_open=False)
    """Warm-up time after switching on before X-rays are usable, s."""


@dataclass(frozen=True)
class Gratings:
    """Grating periods (um) and Talbot order."""

    g1_period_um: float = _num(0.1, 100)
    """G1 (phase grating) period, um."""
    g2_period_um: float = _num(0.1, 100)
    """G2 (analyser grating) period, um; the phase-stepping period."""
    talbot_order: int = _num(0, 1000)
    """Fractional Talbot order of the G1-G2 distance."""
    g0_period_um: float | None = _num(0.1, 100)
    """G0 (source grating) period, um; only for a ``microfocus`` source."""


@dataclass(frozen=True)
class Geometry:
    """Distances along the beam, cm, and magnification at the sample."""

    source_g1_cm: float = _num(1, 1000)
    """Source (G0 for TLI, anode for MAAST) to G1 distance l, cm."""
    g1_g2_cm: float = _num(1, 1000)
    """G1 to G2 distance d, cm (enters the refraction angle alpha = p2 dphi / (2 pi d))."""
    magnification: float = _num(1, 100, lo_open=False)
    """Geometrical magnification at the sample position."""
    field_of_view_cm: float = _num(0.01, 100)
    """Largest field of view at the sample, cm (edge of a cube)."""


@dataclass(frozen=True)
class Detector:
    """The sCMOS camera."""

    pixel_um: float = _num(0.1, 1000)
    """Detector pixel size, um."""
    width_px: int = _num(0, 65536)
    """Sensor width, pixels."""
    height_px: int = _num(0, 65536)
    """Sensor height, pixels."""
    bit_depth: int = _num(0, 32)
    """ADC bit depth."""


@dataclass(frozen=True)
class Stepping:
    """Phase stepping of G2 by the piezo."""

    steps: int = _num(2, 1000, lo_open=False)
    """Number of G2 positions per stepping scan."""
    step_um: float = _num(0.001, 100)
    """G2 step size, um (steps x step_um must be one G2 period)."""


@dataclass(frozen=True)
class CT:
    """Tomographic schedule."""

    start_deg: float = _num(-360, 360, lo_open=False)
    """First projection angle, deg."""
    range_deg: float = _num(0, 720)
    """Angular range, deg (projections at start + k step for k step < range)."""
    angle_step_deg: float = _num(0, 90)
    """Angular increment between projections, deg."""
    reference_every_deg: float = _num(0, 720)
    """Angular interval between reference (flat) stepping scans, from the first angle on, deg."""
    exposure_s: float = _num(1e-4, 3600)
    """Default exposure per phase step, s."""
    min_exposure_s: float = _num(1e-4, 3600)
    """Shortest exposure per step the camera is used with, s."""
    max_exposure_s: float = _num(1e-4, 3600)
    """Longest exposure per step the camera is used with, s."""
    dark_frames: int = _num(0, 1000, lo_open=False)
    """Dark frames (X-rays off) taken at the start of a CT."""


@dataclass(frozen=True)
class SampleStage:
    """Sample translation stage that moves the sample out of the beam, mm."""

    in_mm: float = _num(-1000, 1000)
    """Position with the sample in the beam, mm."""
    out_mm: float = _num(-1000, 1000)
    """Position with the sample clear of the field of view, mm."""
    min_mm: float = _num(-1000, 1000)
    """Lower travel limit, mm."""
    max_mm: float = _num(-1000, 1000)
    """Upper travel limit, mm."""


@dataclass(frozen=True)
class Performance:
    """Figures measured in the paper; the simulator is calibrated to them."""

    visibility: float = _num(0, 1)
    """Mean fringe visibility of the reference stepping curves (fraction, not %)."""
    angular_sensitivity_nrad: float = _num(0, 1e6)
    """Angular sensitivity sigma_alpha, nrad."""
    resolution_um: float = _num(0, 1e4)
    """FSC/FRC resolution on the specimens, um."""


@dataclass(frozen=True)
class Simulation:
    """Settings of the simulated hardware (not from the paper)."""

    piezo_settle_s: float = _num(0, 60, lo_open=False)
    """Piezo settle time after a move, s (nominal, scaled by the IOC's time scale)."""
    piezo_jitter_nm: float = _num(0, 1000, lo_open=False)
    """Standard deviation of the piezo readback around the setpoint, nm."""
    rotation_velocity_deg_s: float = _num(0, 1000)
    """Rotation stage velocity, deg/s."""
    stage_velocity_mm_s: float = _num(0, 1000)
    """Sample stage velocity, mm/s."""
    photon_flux_per_s_mA_px: float = _num(0, 1e9)
    """Detected photons per second per mA of tube current in one unbinned pixel (field mean,
    no sample); calibrated so that simulated reference scans reproduce the paper's angular
    sensitivity (``performance.angular_sensitivity_nrad``) at ``ct.exposure_s``."""
    gain_adu_per_photon: float = _num(0, 1000)
    """Detector conversion gain, ADU per detected X-ray photon."""
    dark_offset_adu: float = _num(0, 60000, lo_open=False)
    """sCMOS dark offset of one pixel, ADU."""
    read_noise_adu: float = _num(0, 1000, lo_open=False)
    """sCMOS read noise (standard deviation) of one unbinned pixel, ADU."""
    visibility_nonuniformity: float = _num(0, 0.5, lo_open=False)
    """Relative rms variation of the visibility map across the field (its mean is
    ``performance.visibility``)."""
    flux_nonuniformity: float = _num(0, 0.5, lo_open=False)
    """Relative rms variation of the open-beam intensity across the field (mean 1)."""
    moire_fringes: float = _num(0, 100, lo_open=False)
    """Moire fringes across the detector width (residual G1/G2 mismatch)."""
    moire_angle_deg: float = _num(-180, 180, lo_open=False)
    """Direction of the moire phase gradient, deg from the detector rows (x axis)."""
    fringe_drift_rad_per_h: float = _num(-100, 100, lo_open=False)
    """Linear drift of the fringe phase with instrument time, rad/h (thermal drift)."""
    fringe_wobble_rad: float = _num(0, 10, lo_open=False)
    """Amplitude of a slow sinusoidal fringe-phase oscillation, rad."""
    fringe_wobble_period_h: float = _num(0, 1000)
    """Period of the sinusoidal fringe-phase oscillation, h."""
    supersampling: int = _num(1, 16, lo_open=False)
    """Sub-samples per (binned) pixel and axis for the sample's projected integrals."""
    beam: Literal["parallel", "cone"]
    """Projection geometry of the simulated sample: ``cone`` (point source at the profile's
    distances, as on the instruments) or ``parallel`` (magnified parallel beam, for comparison)."""
    psf_fwhm_um: float = _num(0, 1000, lo_open=False, default=0.0)
    """Full width at half maximum of the detector's (Gaussian) point-spread function, um at the
    detector (scintillator and optics); 0: none."""
    axis_offset_um: float = _num(-10000, 10000, lo_open=False, default=0.0)
    """Lateral offset of the rotation axis from the central detector column, um at the sample
    (positive towards higher columns)."""
    axis_tilt_deg: float = _num(-10, 10, lo_open=False, default=0.0)
    """Tilt of the rotation axis in the detector plane (about the beam), deg: positive leans its
    top towards higher detector columns."""
    phantom: Literal["breast", "beads"] = "breast"
    """Specimen the simulator images: ``breast`` (:func:`gi_instrument.sim.phantom.breast_specimen`)
    or ``beads`` (the resolution target :func:`gi_instrument.sim.beads.bead_target`)."""


@dataclass(frozen=True)
class Recovery:
    """How a CT rides out faults (suspend, settle, repeat) and keeps the tube safe; not from the
    paper. Nominal times are scaled by a simulator's time scale (1 on hardware)."""

    attempts_per_scan: int = _num(1, 100, lo_open=False)
    """Most attempts of one stepping scan (the first included) before the CT stops."""
    repeats_per_ct: int = _num(0, 100000, lo_open=False)
    """Most repeated stepping scans (discarded attempts) in one CT before it stops."""
    settle_s: float = _num(0, 3600, lo_open=False)
    """Nominal s to wait after a fault clears (suspension lifted, failed attempt) before the
    stepping scan is taken again."""
    beam_tolerance_pct: float = _num(0, 50)
    """Largest deviation of the tube's kV and mA readbacks from their setpoints, % of the
    setpoint, for the tube to count as ready and a frame's dose as undisturbed."""
    watchdog_timeout_s: float = _num(0, 3600)
    """Wall-clock s (never scaled) without a heartbeat from the controlling process after which
    the tube IOC switches the X-rays off."""


RECOVERY_DEFAULTS = {"attempts_per_scan": 3, "repeats_per_ct": 50, "settle_s": 30.0, "beam_tolerance_pct": 2.0,
                     "watchdog_timeout_s": 10.0}
"""Used for a profile without a ``[recovery]`` table (runs recorded before it existed)."""


_SECTIONS: dict[str, type] = {
    "source": Source,
    "gratings": Gratings,
    "geometry": Geometry,
    "detector": Detector,
    "stepping": Stepping,
    "ct": CT,
    "sample_stage": SampleStage,
    "performance": Performance,
    "simulation": Simulation,
    "recovery": Recovery,
}


@dataclass(frozen=True)
class Profile:
    """A validated instrument profile. Derived quantities are properties."""

    name: str
    description: str
    source: Source
    gratings: Gratings
    geometry: Geometry
    detector: Detector
    stepping: Stepping
    ct: CT
    sample_stage: SampleStage
    performance: Performance
    simulation: Simulation
    recovery: Recovery
    path: str = ""
    """File the profile was read from ('' when built from a dict)."""

    # --- derived geometry -------------------------------------------------------------------
    @property
    def voxel_um(self) -> float:
        """Voxel (pixel) size at the sample, um = detector pixel / magnification."""
        return self.detector.pixel_um / self.geometry.magnification

    @property
    def source_g2_cm(self) -> float:
        """Source (G0 or anode) to G2 distance, cm."""
        return self.geometry.source_g1_cm + self.geometry.g1_g2_cm

    @property
    def source_sample_cm(self) -> float:
        """Source to sample distance, cm = source-G2 / magnification (the detector is at G2)."""
        return self.source_g2_cm / self.geometry.magnification

    @property
    def stepping_positions_um(self) -> list[float]:
        """G2 positions of one stepping scan, um, relative to the first (0, step, 2 step, ...)."""
        return [k * self.stepping.step_um for k in range(self.stepping.steps)]

    # --- derived schedule -------------------------------------------------------------------
    @property
    def n_projections(self) -> int:
        """Number of projection angles = range / angular step."""
        return whole_multiple(self.ct.range_deg, self.ct.angle_step_deg)

    @property
    def reference_interval(self) -> int:
        """Projections between two reference scans = reference_every_deg / angle_step_deg."""
        return whole_multiple(self.ct.reference_every_deg, self.ct.angle_step_deg)

    @property
    def n_references(self) -> int:
        """Reference stepping scans in a CT (every interval from the first angle on)."""
        return math.ceil(self.n_projections / self.reference_interval)

    def geometry_summary(self) -> dict[str, float | int | str]:
        """Derived geometry and schedule, for run metadata (units in the keys)."""
        return {
            "voxel_um": self.voxel_um,
            "source_g2_cm": self.source_g2_cm,
            "source_sample_cm": self.source_sample_cm,
            "source_g1_cm": self.geometry.source_g1_cm,
            "g1_g2_cm": self.geometry.g1_g2_cm,
            "beam": self.simulation.beam,
            "design_energy_keV": self.source.design_energy_keV,
            "g2_period_um": self.gratings.g2_period_um,
            "magnification": self.geometry.magnification,
            "n_projections": self.n_projections,
            "n_references": self.n_references,
            "reference_interval": self.reference_interval,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the profile's numbers (as in the file, plus its name)."""
        out = dataclasses.asdict(self)
        out.pop("path")
        return out


def whole_multiple(total: float, step: float) -> int:
    """``total / step`` as a whole number >= 1; ValueError if it is not one (to 1e-6)."""
    n = round(total / step)
    if n < 1 or not math.isclose(n * step, total, rel_tol=_REL_TOL):
        raise ValueError(f"{total} is not a whole multiple of {step}")
    return n


def _build_section(cls: type, data: Any, section: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ProfileError(source, section, f"must be a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ProfileError(source, f"{section}.{key}", f"unknown field (expected one of {sorted(known)})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{section}.{f.name}"
        hint = hints[f.name]
        optional = type(None) in get_args(hint)
        if data.get(f.name) is None:  # absent (or None from Profile.to_dict)
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
                continue
            if optional:
                values[f.name] = None
                continue
            raise ProfileError(source, where, "missing")
        values[f.name] = _check_value(data[f.name], hint, f.metadata, source, where)
    return cls(**values)


def _check_value(value: Any, hint: Any, meta: Any, source: str, where: str) -> Any:
    args = [a for a in get_args(hint) if a is not type(None)]
    base = args[0] if args and getattr(hint, "__origin__", None) is not Literal else hint
    if getattr(hint, "__origin__", None) is Literal:
        if value not in get_args(hint):
            raise ProfileError(source, where, f"must be one of {list(get_args(hint))}, got {value!r}")
        return value
    if base is str:
        if not isinstance(value, str):
            raise ProfileError(source, where, f"must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # Python or numpy; numpy bools are not Real
        raise ProfileError(source, where, f"must be a number, got {value!r}")
    if base is int:
        if not isinstance(value, numbers.Integral) and not float(value).is_integer():
            raise ProfileError(source, where, f"must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ProfileError(source, where, f"must be finite, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value <= lo if meta.get("lo_open", True) else value < lo):
        op = ">" if meta.get("lo_open", True) else ">="
        raise ProfileError(source, where, f"must be {op} {lo}, got {value}")
    if hi is not None and value > hi:
        raise ProfileError(source, where, f"must be <= {hi}, got {value}")
    return value


def _check_consistency(p: Profile, source: str) -> None:
    def fail(where: str, msg: str) -> None:
        raise ProfileError(source, where, msg)

    s, g, st, ct, stage = p.source, p.gratings, p.stepping, p.ct, p.sample_stage
    if not math.isclose(st.steps * st.step_um, g.g2_period_um, rel_tol=_REL_TOL):
        fail("stepping.step_um", f"steps x step_um = {st.steps} x {st.step_um} um = "
             f"{st.steps * st.step_um:g} um must equal the G2 period {g.g2_period_um} um")
    if s.voltage_kV > s.max_voltage_kV:
        fail("source.voltage_kV", f"{s.voltage_kV} kV exceeds the tube limit {s.max_voltage_kV} kV")
    if s.current_mA > s.max_current_mA:
        fail("source.current_mA", f"{s.current_mA} mA exceeds the tube limit {s.max_current_mA} mA")
    if not math.isclose(s.voltage_kV * s.current_mA, s.power_W, rel_tol=0.01):
        fail("source.power_W", f"{s.power_W} W does not match {s.voltage_kV} kV x {s.current_mA} mA "
             f"= {s.voltage_kV * s.current_mA:g} W")
    if s.power_W > s.max_power_W:
        fail("source.power_W", f"{s.power_W} W exceeds the target limit {s.max_power_W} W")
    if s.kind == "microfocus" and g.g0_period_um is None:
        fail("gratings.g0_period_um", "missing: a microfocus (Talbot-Lau) source needs a G0 grating")
    if s.kind == "maast" and g.g0_period_um is not None:
        fail("gratings.g0_period_um", "must be absent for a structured-anode (maast) source")
    if g.g0_period_um is not None:
        # Talbot-Lau condition p0 / p2 = l / d.
        expect = g.g0_period_um / g.g2_period_um
        got = p.geometry.source_g1_cm / p.geometry.g1_g2_cm
        if not math.isclose(expect, got, rel_tol=0.01):
            fail("geometry.source_g1_cm", f"G0-G1 / G1-G2 = {got:.4f} must equal p0 / p2 = {expect:.4f}")
    try:
        p.n_projections
    except ValueError:
        fail("ct.range_deg", f"{ct.range_deg} deg must be a whole multiple of angle_step_deg {ct.angle_step_deg}")
    try:
        p.reference_interval
    except ValueError:
        fail("ct.reference_every_deg",
             f"{ct.reference_every_deg} deg must be a whole multiple of angle_step_deg {ct.angle_step_deg}")
    if ct.min_exposure_s > ct.max_exposure_s:
        fail("ct.min_exposure_s", f"{ct.min_exposure_s} s exceeds max_exposure_s {ct.max_exposure_s} s")
    if not ct.min_exposure_s <= ct.exposure_s <= ct.max_exposure_s:
        fail("ct.exposure_s", f"{ct.exposure_s} s outside [{ct.min_exposure_s}, {ct.max_exposure_s}] s")
    if stage.min_mm >= stage.max_mm:
        fail("sample_stage.min_mm", f"{stage.min_mm} mm must be below max_mm {stage.max_mm} mm")
    for key in ("in_mm", "out_mm"):
        v = getattr(stage, key)
        if not stage.min_mm <= v <= stage.max_mm:
            fail(f"sample_stage.{key}", f"{v} mm outside the travel [{stage.min_mm}, {stage.max_mm}] mm")
    fov_mm = p.geometry.field_of_view_cm * 10.0
    if abs(stage.out_mm - stage.in_mm) < fov_mm:
        fail("sample_stage.out_mm", f"out - in = {abs(stage.out_mm - stage.in_mm)} mm must clear the "
             f"{fov_mm} mm field of view")


def check_field(path: str, value: Any, source: str) -> Any:
    """``value`` checked and converted as the profile field ``path`` (``"section.name"``, e.g.
    ``"recovery.watchdog_timeout_s"``) is in a file, in that field's unit; ProfileError naming
    ``source``, the field and the value otherwise (for a setting written at run time)."""
    section, name = path.split(".")
    cls = _SECTIONS[section]
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return _check_value(value, get_type_hints(cls)[name], meta, source, path)


def profile_from_dict(data: dict[str, Any], source: str = "<dict>") -> Profile:
    """Validate a profile given as a nested dict (as parsed from TOML). Raises ProfileError."""
    if not isinstance(data, dict):
        raise ProfileError(source, "", "profile must be a table")
    top_known = {"name", "description", *_SECTIONS}
    for key in data:
        if key not in top_known:
            raise ProfileError(source, key, f"unknown field (expected one of {sorted(top_known)})")
    for key in ("name", "description"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileError(source, key, "missing or not a non-empty string")
    sections = {}
    for key, cls in _SECTIONS.items():
        section = data.get(key, RECOVERY_DEFAULTS if key == "recovery" else None)
        if section is None:
            raise ProfileError(source, key, "missing section")
        sections[key] = _build_section(cls, section, key, source)
    profile = Profile(name=data["name"], description=data["description"], path=source, **sections)
    _check_consistency(profile, source)
    return profile


def _profile_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if text in PROFILE_NAMES:
        return Path(str(resources.files("gi_instrument.profiles").joinpath(f"{text}.toml")))
    return Path(text)


def load_profile(name_or_path: str | Path) -> Profile:
    """Load and validate a profile: ``"tli"``, ``"maast"`` or a path to a TOML file.

    Raises ProfileError (a ValueError) naming the file and the offending field.
    """
    path = _profile_path(name_or_path)
    source = str(path)
    if not path.is_file():
        raise ProfileError(source, "", f"no such profile (built-in names: {', '.join(PROFILE_NAMES)})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(source, "", f"not valid TOML: {exc}") from exc
    return profile_from_dict(data, source)
