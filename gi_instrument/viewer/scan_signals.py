"""What the viewer shows of a stepping scan, computed with the processing package's own retrieval
(:func:`gi_instrument.processing.retrieve`, :func:`~gi_instrument.processing.fit_stepping`): the
T / DPC / dark-field images against a reference scan, the reference's visibility map, and the
stepping curve at one pixel with its fitted sinusoid ``I = a0 (1 + V cos(2 pi x / p2 + phi))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing import Retrieval, fit_stepping, retrieve
from gi_instrument.processing.retrieval import mean_dark

__all__ = ["PixelCurve", "SteppingScan", "pixel_curve", "scan_signals", "visibility_map"]


@dataclass(frozen=True)
class SteppingScan:
    """One stepping scan: its frames and G2 readbacks."""

    stream: str
    """``primary`` (sample in) or ``reference`` (sample out)."""
    angle_index: int
    """Projection index (a reference: the projection it precedes)."""
    frames: NDArray
    """(steps, rows, cols), counts."""
    positions_um: NDArray[np.float64] | None
    """(steps,) G2 readbacks, um; ``None``: equidistant over one period."""


@dataclass(frozen=True)
class PixelCurve:
    """The stepping curve at one pixel and its first-harmonic fit (dark subtracted)."""

    positions_um: NDArray[np.float64]
    """(steps,) G2 positions, um."""
    counts: NDArray[np.float64]
    """(steps,) measured intensity minus dark, counts."""
    model_um: NDArray[np.float64]
    """Dense G2 positions over one period from the first step, um."""
    model_counts: NDArray[np.float64]
    """The fitted sinusoid at ``model_um``, counts."""
    a0: float
    """Mean intensity, counts."""
    visibility: float
    """``V = a0 V / a0`` of the fit."""
    phase_rad: float
    """Fringe phase ``phi``, rad."""


def _positions(scan: SteppingScan, period_um: float) -> NDArray[np.float64]:
    steps = scan.frames.shape[0]
    if scan.positions_um is not None:
        return np.asarray(scan.positions_um, dtype=np.float64)
    return np.arange(steps) * period_um / steps


def scan_signals(sample: SteppingScan, reference: SteppingScan, dark: NDArray | None,
                 period_um: float) -> Retrieval:
    """T, DPC and dark-field of ``sample`` against ``reference`` (:func:`retrieve` with the
    measured G2 positions when both scans have them)."""
    measured = sample.positions_um is not None and reference.positions_um is not None
    return retrieve(sample.frames, reference.frames, dark=dark,
                    positions_um=sample.positions_um if measured else None,
                    reference_positions_um=reference.positions_um if measured else None,
                    period_um=period_um if measured else None)


def visibility_map(reference: SteppingScan, dark: NDArray | None, period_um: float) -> NDArray[np.float32]:
    """Visibility ``V = a0 V / a0`` per pixel of a (reference) scan; 0 where ``a0 <= 0``."""
    fit = fit_stepping(reference.frames, dark, reference.positions_um,
                       period_um if reference.positions_um is not None else None)
    a0 = fit.a0
    return np.where(a0 > 0, fit.amplitude / np.where(a0 > 0, a0, 1), 0).astype(np.float32)


def pixel_curve(scan: SteppingScan, row: int, col: int, dark: NDArray | None, period_um: float,
                samples: int = 100) -> PixelCurve:
    """The stepping curve of ``scan`` at pixel (``row``, ``col``) and its fit."""
    rows, cols = scan.frames.shape[1:]
    if not (0 <= row < rows and 0 <= col < cols):
        raise IndexError(f"pixel ({row}, {col}) outside the {rows} x {cols} frame")
    stack = np.asarray(scan.frames[:, row:row + 1, col:col + 1], dtype=np.float64)
    dark_px = mean_dark(dark, np.float64)
    if dark_px is not None:
        dark_px = np.broadcast_to(dark_px, (rows, cols))[row:row + 1, col:col + 1]
    positions = _positions(scan, period_um)
    fit = fit_stepping(stack, dark_px, positions, period_um, dtype=np.float64)
    a0, amplitude, phase = float(fit.a0[0, 0]), float(fit.amplitude[0, 0]), float(fit.phase[0, 0])
    model = positions[0] + np.linspace(0.0, period_um, samples)
    counts = stack[:, 0, 0] - (0.0 if dark_px is None else float(dark_px[0, 0]))
    return PixelCurve(
        positions_um=positions, counts=counts, model_um=model,
        model_counts=a0 + amplitude * np.cos(2 * np.pi * model / period_um + phase),
        a0=a0, visibility=amplitude / a0 if a0 > 0 else 0.0, phase_rad=phase)
