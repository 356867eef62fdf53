"""astra-toolbox back-ends (optional: ``pip install gi-instrument[astra]``).

- :func:`astra_slices`: the filter in numpy, the back-projection by astra (``BP`` on the CPU or
  ``BP_CUDA``, linear interpolation); used by ``fbp(..., backend="astra")`` and so also by the
  fan/cone path after rebinning (:mod:`~gi_instrument.processing.reconstruction.cone`). astra 2.x
  uses the rotation direction and image orientation of
  :mod:`~gi_instrument.processing.reconstruction.parallel` with its axis at ``(cols - 1) / 2``;
  other axis positions are applied as a Fourier shift of the filtered projections.
- :func:`astra_reference_fbp`: astra's own CPU FBP (parallel beam), unmodified, for comparisons.
- :func:`astra_fan_backprojection`: astra's CPU fan-beam back-projection of one slice (flat
  detector). astra 2.5 has no CPU fan-beam FBP (its ``FBP`` refuses fan geometries; ``FBP_CUDA``
  needs a GPU), so the benchmarks time this, the costly part of any fan-beam FBP, as astra's CPU
  fan-beam reconstruction.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.reconstruction.filters import filter_projections
from gi_instrument.processing.reconstruction.gridding import OVERSAMPLING

__all__ = ["astra_available", "astra_slices", "astra_reference_fbp", "astra_fan_backprojection"]


@functools.cache
def astra_available(cuda: bool = False) -> bool:
    """True if astra-toolbox imports (and, with ``cuda``, has a usable GPU)."""
    try:
        import astra  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    if not cuda:
        return True
    try:
        return bool(astra.use_cuda())
    except Exception:  # noqa: BLE001
        return False


def astra_slices(
    sino: NDArray[np.floating],
    theta: NDArray[np.float64],
    weights: NDArray[np.float64],
    response: NDArray[np.complex128],
    center_px: float,
    workers: int,
    padding: str = "zero",
) -> NDArray[np.float32]:
    """Same filter in numpy, back-projection by astra; ``sino`` is (angles, cols, batch)."""
    import astra  # noqa: PLC0415

    n_ang, cols, batch = sino.shape
    # astra puts the rotation axis at (cols - 1) / 2: shift the filtered projection there
    filt = filter_projections(sino, response, OVERSAMPLING * cols, padding,
                              center_px - (cols - 1) / 2, workers)
    filt *= weights.astype(np.float32)[:, None, None]
    use_cuda = astra_available(cuda=True)
    vol_geom = astra.create_vol_geom(cols, cols)
    # astra 2.x: rotation axis at the detector centre, angles and image orientation as here
    proj_geom = astra.create_proj_geom("parallel", 1.0, cols, theta)
    proj_id = None if use_cuda else astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((batch, cols, cols), dtype=np.float32)
    for b in range(batch):
        sid = astra.data2d.create("-sino", proj_geom, filt[:, :, b])
        rid = astra.data2d.create("-vol", vol_geom, 0.0)
        cfg = astra.astra_dict("BP_CUDA" if use_cuda else "BP")
        cfg["ProjectionDataId"] = sid
        cfg["ReconstructionDataId"] = rid
        if proj_id is not None:
            cfg["ProjectorId"] = proj_id
        alg = astra.algorithm.create(cfg)
        try:
            astra.algorithm.run(alg)
            out[b] = astra.data2d.get(rid)
        finally:
            astra.algorithm.delete(alg)
            astra.data2d.delete([sid, rid])
    if proj_id is not None:
        astra.projector.delete(proj_id)
    return out


def astra_reference_fbp(sinogram: NDArray[np.floating], angles_deg: NDArray[np.floating],
                        filter_type: str = "ram-lak") -> NDArray[np.float32]:
    """astra-toolbox's own CPU FBP, unmodified (parallel beam, linear projector), for comparisons
    in tests and benchmarks: sinogram (angles, cols) -> slice (cols, cols). Needs astra."""
    import astra  # noqa: PLC0415

    n = sinogram.shape[1]
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(np.asarray(angles_deg, dtype=np.float64)))
    pid = astra.create_projector("linear", proj, vol)
    sid = astra.data2d.create("-sino", proj, np.asarray(sinogram, dtype=np.float32))
    rid = astra.data2d.create("-vol", vol, 0.0)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
    cfg["option"] = {"FilterType": filter_type}
    alg = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg)
        return astra.data2d.get(rid).astype(np.float32)  # astra normalises for the angular range
    finally:
        astra.algorithm.delete(alg)
        astra.data2d.delete([sid, rid])
        astra.projector.delete(pid)



def astra_fan_backprojection(sinogram: NDArray[np.floating], angles_deg: NDArray[np.floating],
                             source_axis_px: float, source_detector_px: float) -> NDArray[np.float32]:
    """astra's CPU back-projection (``BP``, ``line_fanflat`` projector) of one fan-beam sinogram
    (angles, cols) onto a (cols, cols) slice; distances in detector pixels at the axis (source to
    axis) and in detector pixels (source to detector). Needs astra. A timing reference: it is the
    adjoint of astra's projector, without an FBP's distance weighting."""
    import astra  # noqa: PLC0415

    n = sinogram.shape[1]
    magnification = source_detector_px / source_axis_px
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("fanflat", magnification, n,
                                  np.deg2rad(np.asarray(angles_deg, dtype=np.float64)),
                                  source_axis_px, source_detector_px - source_axis_px)
    pid = astra.create_projector("line_fanflat", proj, vol)
    sid = astra.data2d.create("-sino", proj, np.asarray(sinogram, dtype=np.float32))
    rid = astra.data2d.create("-vol", vol, 0.0)
    cfg = astra.astra_dict("BP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
    alg = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg)
        return astra.data2d.get(rid).astype(np.float32)
    finally:
        astra.algorithm.delete(alg)
        astra.data2d.delete([sid, rid])
        astra.projector.delete(pid)
