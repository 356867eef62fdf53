"""The simulated interferometer and sCMOS detector: one call makes one detector frame.

Stepping curve of a (binned) pixel, G2 at ``g2_um`` (DESIGN.md §2, sign convention of
:mod:`gi_instrument.processing.retrieval`)::

    I = a0 T (1 + V D cos(2 pi g2_um / p2 + psi(t) + phi_m(x, y) + dphi)),
    dphi = 2 pi d_eff alpha / p2   (alpha = d/du integral of delta dl)

with ``d_eff`` the lever arm of the sample's position between source and G2
(:func:`gi_instrument.sim.interferometer.lever_arm_m`: ``L - l_s`` downstream of G1,
``d l_s / L1`` upstream).

- ``a0 = flux * exposure_s * current_mA * b^2 * f(x, y)`` photons: ``flux`` =
  ``simulation.photon_flux_per_s_mA_px``, ``f`` a smooth open-beam profile of mean 1 and relative
  rms ``flux_nonuniformity``, ``b`` the binning;
- ``V(x, y)``: smooth visibility map of mean ``performance.visibility`` and relative rms
  ``visibility_nonuniformity`` (radial fall-off plus a grating-defect mode);
- ``phi_m``: linear moire phase, ``moire_fringes`` fringes across the width at
  ``moire_angle_deg``; ``psi(t)``: drift ``fringe_drift_rad_per_h * t`` plus a sinusoidal wobble;
- T, D, dphi from the exact projections (:mod:`gi_instrument.sim.forward`), averaged as complex
  stepping-curve terms over ``supersampling`` x ``supersampling`` sub-pixels per binned pixel (so
  unresolved refraction gradients lower the visibility as they do on a real detector), and the
  moire phase's variation within a pixel as the factor sinc(dphi_x / 2) sinc(dphi_y / 2).
- Blur: the sample terms (T and T D exp(i dphi), not the fringe carrier: the Lau condition keeps
  the fringes of all source points in phase) are convolved with a Gaussian of variance
  ``sigma_spot^2 + sigma_psf^2`` at the detector: the source spot (``source.spot_size_um`` FWHM)
  projected with the penumbra factor ``(L - l_s) / l_s``
  (:func:`~gi_instrument.sim.interferometer.penumbra_factor`) and the detector's point-spread
  function (``simulation.psf_fwhm_um`` FWHM). The detector PSF also acts on the fringe carrier,
  but the moire varies by < 0.01 rad over it (a few fringes over 2048 pixels), so it is applied
  to the sample terms alone.

Detector: photons ~ Poisson(I) of the b x b summed pixels; the camera reads a binned pixel as the
mean of its pixels (averaging binning keeps the 16-bit range), so
``ADU = gain * photons / b^2 + offset + read_noise / b * N(0, 1)``, rounded and clipped to
``detector.bit_depth``. Dark frame (``xray_on=False`` or zero current): offset and read noise.

Frames are modelled directly at the binned resolution (a binned pixel's sub-pixels are the
sampling of the projections), never rendered at 2048 x 2048 and binned. Only noise is drawn per
frame: per (angle, binning, sample offset, window) the terms
``A = f T``, ``B + i C = f V sinc S1 exp(i phi_m)`` (S1 = sub-pixel mean of T D exp(i dphi)) are
computed once and cached (their angle-independent factors ``f`` and ``f V sinc exp(i phi_m)`` once
per binning and window), and a frame is ``Poisson(a0' (A + B cos(theta) - C sin(theta)))``. The
projections of an angle are evaluated in row blocks of :class:`~gi_instrument.sim.forward.Projection`
(per-angle chord coefficients computed once), the transcendental functions of the sub-pixel fields
in float32 (rounding ~1e-7 relative, below the float32 terms' own).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gi_instrument.profile import Profile
from scipy import ndimage

from gi_instrument.sim.beads import bead_target
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.interferometer import penumbra_factor, profile_lever_arm_m
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Phantom, breast_specimen

__all__ = ["Window", "ScannerModel", "frame_window", "detector_maps", "moire_pixel_factor", "PHANTOMS"]

_CACHE_ENTRIES = 4
_BLOCK_SUBPIXELS = 1 << 18
"""Sub-pixels per block of the per-angle computation (bounds its memory)."""
_BLOCK_PIXELS = 1 << 16
"""Pixels per block of a frame's noise (small transient arrays)."""
_RADIAL_RMS = math.sqrt(8.0 / 45.0)
"""rms of 2/3 - (xi^2 + eta^2) over the square [-1, 1]^2 (its mean is 0)."""
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_BLUR_TRUNCATE = 4.0
"""The blur kernel is cut at this many standard deviations."""
PHANTOMS = {"breast": breast_specimen, "beads": bead_target}
"""Phantom makers by name (``simulation.phantom``, ``--phantom``): ``maker(profile, seed=...)``."""


@dataclass(frozen=True)
class Window:
    """A detector window in binned pixels: first row/column and size."""

    row0: int
    col0: int
    rows: int
    cols: int


def frame_window(profile: Profile, binning: int, window: Window | None = None) -> Window:
    """``window`` checked against the binned frame, or the whole binned frame when ``None``."""
    det = profile.detector
    if binning < 1 or det.width_px % binning or det.height_px % binning:
        raise ValueError(f"binning {binning} must divide the {det.width_px} x {det.height_px} detector")
    rows, cols = det.height_px // binning, det.width_px // binning
    if window is None:
        return Window(0, 0, rows, cols)
    if not (0 <= window.row0 and window.row0 + window.rows <= rows and 0 <= window.col0
            and window.col0 + window.cols <= cols and window.rows > 0 and window.cols > 0):
        raise ValueError(f"{window} outside the {rows} x {cols} binned frame")
    return window


def _moire_gradient_rad(profile: Profile) -> tuple[float, float]:
    """Moire phase per unit normalised detector coordinate (xi, eta), rad."""
    sim = profile.simulation
    beta = math.radians(sim.moire_angle_deg)
    return (math.pi * sim.moire_fringes * math.cos(beta), math.pi * sim.moire_fringes * math.sin(beta))


def moire_pixel_factor(profile: Profile, binning: int) -> float:
    """Loss of fringe visibility from the moire phase's variation within a binned pixel:
    ``sinc(dphi_x / 2) sinc(dphi_y / 2)``, ``dphi`` the moire phase change across the pixel."""
    det = profile.detector
    gx, gy = _moire_gradient_rad(profile)
    det_w, det_h = 2 * binning / det.width_px, 2 * binning / det.height_px  # pixel in xi, eta
    return float(np.sinc(gx * det_w / (2 * math.pi)) * np.sinc(gy * det_h / (2 * math.pi)))


def detector_maps(profile: Profile, binning: int = 1, window: Window | None = None
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Open-beam maps (rows, cols) at the binned pixel centres: relative flux f (mean 1 over the
    detector), visibility V (mean ``performance.visibility``, before pixel integration) and moire
    phase, rad. Normalised coordinates xi (columns) and eta (rows, up) span [-1, 1]."""
    window = frame_window(profile, binning, window)
    det, sim = profile.detector, profile.simulation
    xi = (window.col0 + np.arange(window.cols) + 0.5) * binning / (det.width_px / 2) - 1.0
    eta = 1.0 - (window.row0 + np.arange(window.rows) + 0.5) * binning / (det.height_px / 2)
    x, y = xi[None, :], eta[:, None]
    radial = (2.0 / 3.0 - x * x - y * y) / _RADIAL_RMS  # mean 0, rms 1 over the detector
    defect = 2.0 * np.cos(math.pi * x + 0.7) * np.cos(2 * math.pi * y + 1.9)  # mean 0, rms 1
    flux = 1.0 + sim.flux_nonuniformity * radial
    vis = profile.performance.visibility * (1.0 + sim.visibility_nonuniformity * (0.8 * radial + 0.6 * defect))
    gx, gy = _moire_gradient_rad(profile)
    return flux, vis, gx * x + gy * y


class ScannerModel:
    """Frames of the simulated Talbot-Lau scanner for ``profile``.

    Args:
        profile: the instrument profile (geometry, gratings, detector, simulation settings).
        seed: seed of the noise and (without ``phantom``) of the phantom.
        phantom: specimen to image; default the profile's ``simulation.phantom`` (:data:`PHANTOMS`)
            made with ``seed``.
    """

    def __init__(self, profile: Profile, *, seed: int = 0, phantom: Phantom | None = None) -> None:
        self.profile = profile
        self.phantom = PHANTOMS[profile.simulation.phantom](profile, seed=seed) if phantom is None else phantom
        materials = breast_materials(profile.source.design_energy_keV)
        self.projector = Projector(self.phantom, materials, BeamGeometry.from_profile(profile))
        self._rng = np.random.default_rng(seed)
        self._cache: OrderedDict[tuple, tuple[NDArray, NDArray, NDArray]] = OrderedDict()
        self._detector_cache: OrderedDict[tuple, tuple[NDArray, NDArray, NDArray]] = OrderedDict()
        self._lock = threading.Lock()  # the IOC may render from a worker thread
        self._pending: dict[tuple, threading.Event] = {}
        """Keys of the per-angle terms a thread is computing, set when they are cached."""

    # ---- public -------------------------------------------------------------------------------
    def frame(self, *, angle_deg: float, g2_um: float, sample_offset_mm: float, exposure_s: float,
              current_mA: float, xray_on: bool, time_s: float, binning: int = 1,
              window: Window | None = None) -> np.ndarray:
        """One detector frame, uint16, shape (height_px // binning, width_px // binning)
        (``window``: only that part of it, shape (window.rows, window.cols)).

        Args:
            angle_deg: rotation stage angle, deg.
            g2_um: true G2 piezo position, um.
            sample_offset_mm: sample stage position minus its in-beam position, mm.
            exposure_s: exposure time, s; current_mA: tube current, mA.
            xray_on: False gives a dark frame.
            time_s: instrument time, s (fringe drift).
            binning: b x b binning (averaging read-out of summed photons).
            window: optional sub-field in binned pixels (tests, calibration).
        """
        return self._frame(angle_deg, g2_um, sample_offset_mm, exposure_s, current_mA, xray_on,
                           time_s, binning, window)

    def _frame(self, angle_deg: float, g2_um: float, sample_offset_mm: float, exposure_s: float,
               current_mA: float, xray_on: bool, time_s: float, binning: int, window: Window | None
               ) -> np.ndarray:
        window = frame_window(self.profile, binning, window)
        sim = self.profile.simulation
        terms, theta, scale = None, 0.0, 0.0
        if xray_on and current_mA > 0 and exposure_s > 0:
            terms = self._terms(angle_deg, sample_offset_mm, binning, window)
            theta, scale = self._phase_and_scale(g2_um, time_s, exposure_s, current_mA, binning)
        out = np.empty((window.rows, window.cols), dtype=np.uint16)
        # Row blocks keep the transient arrays small (and the allocator's footprint flat).
        with self._lock:  # the random generator is not thread-safe
            self._draw(out, terms, theta, scale, np.float32(sim.gain_adu_per_photon / binning**2),
                       np.float32(sim.read_noise_adu / binning), max(1, _BLOCK_PIXELS // window.cols))
        return out

    def _draw(self, out: np.ndarray, terms: tuple[NDArray, NDArray, NDArray] | None, theta: float,
              scale: float, adu_per_photon: np.float32, read_adu: np.float32, step: int) -> None:
        """Fill ``out`` with noisy ADU, ``step`` rows at a time (``terms`` None: dark frame)."""
        sim, det = self.profile.simulation, self.profile.detector
        rows_total, cols = out.shape
        for r0 in range(0, rows_total, step):
            rows = slice(r0, min(rows_total, r0 + step))
            if terms is not None:
                adu = self._rng.poisson(self._expected(terms, rows, theta, scale)).astype(np.float32)
                adu *= adu_per_photon
            else:
                adu = np.zeros((rows.stop - rows.start, cols), dtype=np.float32)
            noise = self._rng.standard_normal(adu.shape, dtype=np.float32)
            noise *= read_adu
            adu += noise
            adu += np.float32(sim.dark_offset_adu)
            np.rint(adu, out=adu)
            np.clip(adu, 0, 2**det.bit_depth - 1, out=adu)
            out[rows] = adu

    def prefetch(self, *, angle_deg: float, sample_offset_mm: float, binning: int = 1) -> None:
        """Compute and cache the projection terms of an angle ahead of its first frame."""
        self._terms(angle_deg, sample_offset_mm, binning, frame_window(self.profile, binning, None))

    def expected_photons(self, *, angle_deg: float, g2_um: float, sample_offset_mm: float,
                         exposure_s: float, current_mA: float, time_s: float, binning: int = 1,
                         window: Window | None = None) -> NDArray[np.float32]:
        """Noise-free photons per binned pixel (sum over its b x b pixels), float32 (rows, cols)."""
        window = frame_window(self.profile, binning, window)
        terms = self._terms(angle_deg, sample_offset_mm, binning, window)
        theta, scale = self._phase_and_scale(g2_um, time_s, exposure_s, current_mA, binning)
        return self._expected(terms, slice(None), theta, scale)

    def _phase_and_scale(self, g2_um: float, time_s: float, exposure_s: float, current_mA: float,
                         binning: int) -> tuple[float, float]:
        """Stepping phase theta, rad, and photons of a flat binned pixel (a0 / f)."""
        p = self.profile
        theta = 2 * math.pi * g2_um / p.gratings.g2_period_um + self.fringe_drift_rad(time_s)
        return theta, p.simulation.photon_flux_per_s_mA_px * exposure_s * current_mA * binning**2

    @staticmethod
    def _expected(terms: tuple[NDArray, NDArray, NDArray], rows: slice, theta: float, scale: float
                  ) -> NDArray[np.float32]:
        """scale * (A + B cos(theta) - C sin(theta)) on ``rows`` of the cached terms."""
        a, b, c = (t[rows] for t in terms)
        out = b * np.float32(scale * math.cos(theta))
        out -= c * np.float32(scale * math.sin(theta))
        out += a * np.float32(scale)
        np.maximum(out, 0.0, out=out)
        return out

    @property
    def noise_state(self) -> dict[str, Any]:
        """State of the noise generator (numpy ``bit_generator.state``); set it to go on drawing
        where another model stopped (an IOC restart, :mod:`gi_instrument.sim.world`)."""
        with self._lock:
            return self._rng.bit_generator.state

    @noise_state.setter
    def noise_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._rng.bit_generator.state = state

    def fringe_drift_rad(self, time_s: float) -> float:
        """Global fringe phase drift psi(t), rad, at instrument time ``time_s``."""
        sim = self.profile.simulation
        hours = time_s / 3600.0
        return (sim.fringe_drift_rad_per_h * hours
                + sim.fringe_wobble_rad * math.sin(2 * math.pi * hours / sim.fringe_wobble_period_h))

    # ---- per-angle terms ----------------------------------------------------------------------
    def _terms(self, angle_deg: float, sample_offset_mm: float, binning: int, window: Window
               ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Cached per-angle terms; computed outside the lock, so a prefetch of the next angle
        runs beside the frames of the current one. Terms another thread is computing (a
        prefetch not finished when the angle's first frame comes) are waited for, never
        computed twice."""
        key = (round(angle_deg, 9), round(sample_offset_mm, 6), binning, window)
        while True:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
                pending = self._pending.get(key)
                if pending is None:
                    done = self._pending[key] = threading.Event()
                    break
            pending.wait()      # then the cache has them (or the other thread failed: compute here)
        try:
            terms = self._compute_terms(angle_deg, sample_offset_mm, binning, window)
            with self._lock:
                self._cache[key] = terms
                while len(self._cache) > _CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                del self._pending[key]
            done.set()
        return terms

    def _detector_terms(self, binning: int, window: Window
                        ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """The angle-independent factors of the terms, cached per (binning, window), float32
        (rows, cols): flux f and the real and imaginary parts of ``f V sinc exp(i phi_m)``."""
        key = (binning, window)
        with self._lock:
            hit = self._detector_cache.get(key)
        if hit is not None:
            return hit
        p = self.profile
        flux, vis, moire = detector_maps(p, binning, window)
        amplitude = flux * vis
        amplitude *= moire_pixel_factor(p, binning)
        real, imag = np.cos(moire), np.sin(moire)
        real *= amplitude
        imag *= amplitude
        terms = (flux.astype(np.float32), real.astype(np.float32), imag.astype(np.float32))
        with self._lock:
            self._detector_cache[key] = terms
            while len(self._detector_cache) > _CACHE_ENTRIES:
                self._detector_cache.popitem(last=False)
        return terms

    def _compute_terms(self, angle_deg: float, sample_offset_mm: float, binning: int, window: Window
                       ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """The terms A, B, C of an angle, float32 (rows, cols) (module docstring)."""
        flux, fringe_re, fringe_im = self._detector_terms(binning, window)
        sample = self._blurred_sample_terms(angle_deg, sample_offset_mm * 1e-3, binning, window)
        if sample is None:
            return flux, fringe_re, fringe_im
        s0, s1_re, s1_im = sample
        a = flux * s0
        b = fringe_re * s1_re
        b -= fringe_im * s1_im
        c = fringe_re * s1_im
        c += fringe_im * s1_re
        return a, b, c

    def blur_sigma_px(self, binning: int) -> float:
        """Standard deviation, binned pixels, of the Gaussian blur of the sample's signals: source
        spot through the penumbra factor and detector PSF (module docstring)."""
        p = self.profile
        g = self.projector.geometry
        spot_um = p.source.spot_size_um * penumbra_factor(g.source_sample_m, g.source_detector_m)
        fwhm_um = math.hypot(spot_um, p.simulation.psf_fwhm_um)
        return fwhm_um / _FWHM_PER_SIGMA / (p.detector.pixel_um * binning)

    def _blurred_sample_terms(self, angle_deg: float, offset_m: float, binning: int, window: Window
                              ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]] | None:
        """:meth:`_sample_terms` blurred by :meth:`blur_sigma_px`: computed on the window grown by
        the kernel's reach (the projections are analytic beyond the detector too), then cut."""
        sigma = self.blur_sigma_px(binning)
        if sigma == 0.0:
            return self._sample_terms(angle_deg, offset_m, binning, window)
        m = int(math.ceil(_BLUR_TRUNCATE * sigma))
        grown = Window(window.row0 - m, window.col0 - m, window.rows + 2 * m, window.cols + 2 * m)
        terms = self._sample_terms(angle_deg, offset_m, binning, grown)
        if terms is None:
            return None
        inner = (slice(m, m + window.rows), slice(m, m + window.cols))
        return tuple(np.ascontiguousarray(ndimage.gaussian_filter(t, sigma, mode="nearest",
                                                                  truncate=_BLUR_TRUNCATE)[inner])
                     for t in terms)

    def _sample_terms(self, angle_deg: float, offset_m: float, binning: int, window: Window
                      ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]] | None:
        """Sub-pixel means of T and of T D exp(i dphi) (real, imaginary part) per binned pixel,
        float32 (rows, cols); ``None`` for an open beam (T = D = 1, dphi = 0)."""
        p = self.profile
        s = p.simulation.supersampling
        voxel_m = p.voxel_um * 1e-6
        det = p.detector
        cols_sub = window.cols * s
        u_edges = ((window.col0 + np.arange(cols_sub + 1) / s) * binning - det.width_px / 2) * voxel_m
        fringe_per_rad = 2 * math.pi * profile_lever_arm_m(p) / (p.gratings.g2_period_um * 1e-6)
        rows_per_block = max(1, _BLOCK_SUBPIXELS // (cols_sub * s * s))
        out = np.ones((3, window.rows, window.cols), dtype=np.float32)
        out[2] = 0.0
        projection = self.projector.at(angle_deg, offset_m)
        open_beam = True
        for r0 in range(0, window.rows, rows_per_block):
            r1 = min(window.rows, r0 + rows_per_block)
            sub_rows = window.row0 + r0 + (np.arange((r1 - r0) * s) + 0.5) / s
            v = (det.height_px / 2 - sub_rows * binning) * voxel_m
            sig = projection.pixel_signals(u_edges, v)
            if sig is None:
                continue
            open_beam = False
            t = np.exp(-sig.attenuation)
            amplitude = np.exp(-sig.darkfield)
            amplitude *= t
            amplitude = amplitude.astype(np.float32)
            # float32 phase: rounding ~1e-7 rad, far below any fringe signal
            phase = (fringe_per_rad * sig.refraction_rad).astype(np.float32)
            real = np.cos(phase)
            real *= amplitude
            imag = np.sin(phase, out=phase)
            imag *= amplitude
            for k, field in enumerate((t, real, imag)):
                out[k, r0:r1] = _subpixel_mean(field, s)
        return None if open_beam else (out[0], out[1], out[2])


def _subpixel_mean(field: NDArray, s: int) -> NDArray[np.float32]:
    """Means of the s x s blocks of ``field`` (rows * s, cols * s), float32 (rows, cols)."""
    rows = field.reshape(-1, s, field.shape[1]).sum(axis=1, dtype=np.float32)
    out = rows[:, 0::s].copy()
    for k in range(1, s):
        out += rows[:, k::s]
    out *= np.float32(1.0 / (s * s))
    return out
