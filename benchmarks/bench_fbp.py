"""FBP benchmark: one 1024-wide slice from 1200 angles (TLI: 360 deg in 0.3 deg steps).

Compares, in the same run and on the same analytic sinogram (modified Shepp-Logan phantom, exact
line integrals of its ellipses):

- ``gi_instrument.processing.fbp`` (numpy Fourier gridding), first call (builds the cached
  gridding plan) and repeated call (plan cached, as for the second and later slices of a volume);
- astra-toolbox's CPU ``FBP`` (Ram-Lak, ``linear`` projector), if importable;
- ``skimage.transform.iradon`` (ramp), if importable.

Prints times, ratios to this package's FBP and the RMSE against the phantom inside the
reconstruction circle. Run: ``.venv/bin/python benchmarks/bench_fbp.py [--size 1024]
[--angles 1200] [--repeat 3]``. ``pip install gi-instrument[bench]`` installs the baselines.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from gi_instrument.processing.fbp import astra_reference_fbp, fbp

# modified Shepp-Logan (Toft): value, semi-axes a, b, centre x0, y0 (units of the half-width),
# rotation (deg, counter-clockwise, y up)
SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
]


def phantom_and_sinogram(
    size: int, angles_deg: np.ndarray, centre: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel phantom (size, size) and its exact sinogram (angles, size), pixel units.

    Coordinates as in :mod:`gi_instrument.processing.fbp`: ``x = col - c``, ``y = c - row``,
    ``s = col - c``, ``c = (size - 1) / 2`` unless ``centre`` is given (``skimage`` uses
    ``size // 2``).
    """
    c = (size - 1) / 2 if centre is None else centre
    half = size / 2 * 0.95
    rows, cols = np.mgrid[:size, :size]
    x, y = cols - c, c - rows
    s = np.arange(size) - c
    theta = np.deg2rad(angles_deg)[:, None]
    image = np.zeros((size, size))
    sino = np.zeros((angles_deg.size, size))
    for value, a, b, x0, y0, rot in SHEPP_LOGAN:
        a, b, x0, y0, rot = a * half, b * half, x0 * half, y0 * half, np.deg2rad(rot)
        xr = (x - x0) * np.cos(rot) + (y - y0) * np.sin(rot)
        yr = -(x - x0) * np.sin(rot) + (y - y0) * np.cos(rot)
        image[(xr / a) ** 2 + (yr / b) ** 2 <= 1] += value
        a2 = (a * np.cos(theta - rot)) ** 2 + (b * np.sin(theta - rot)) ** 2
        sp = s[None, :] - (x0 * np.cos(theta) + y0 * np.sin(theta))
        sino += 2 * value * a * b * np.sqrt(np.clip(a2 - sp**2, 0, None)) / a2
    return image, sino


def timed(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--angles", type=int, default=1200)
    ap.add_argument("--range-deg", type=float, default=360.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    n, n_ang = args.size, args.angles
    angles = np.arange(n_ang) * (args.range_deg / n_ang)
    image, sino = phantom_and_sinogram(n, angles)
    sino32 = sino.astype(np.float32)
    c = (n - 1) / 2
    rr, cc = np.mgrid[:n, :n]
    circle = (rr - c) ** 2 + (cc - c) ** 2 <= (0.95 * n / 2) ** 2

    def rmse(rec: np.ndarray) -> float:
        return float(np.sqrt(np.mean((rec[circle] - image[circle]) ** 2)))

    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; slice {n} x {n} from {n_ang} angles over {args.range_deg} deg")
    results = []
    t0 = time.perf_counter()
    ours = fbp(sino32, angles, backend="numpy")
    t_first = time.perf_counter() - t0
    results.append(("gi fbp (numpy gridding), first call", t_first, rmse(ours)))
    t, ours = timed(lambda: fbp(sino32, angles, backend="numpy"), args.repeat)
    results.append(("gi fbp (numpy gridding), plan cached", t, rmse(ours)))
    try:
        import astra  # noqa: F401

        t, rec = timed(lambda: astra_reference_fbp(sino32, angles), 1)
        results.append(("astra-toolbox CPU FBP (ram-lak)", t, rmse(rec)))
        t, rec = timed(lambda: fbp(sino32, angles, backend="astra"), 1)
        results.append(("gi fbp backend=astra (numpy filter + astra BP)", t, rmse(rec)))
    except ImportError:
        print("astra-toolbox not importable: skipped")
    try:
        from skimage.transform import iradon

        # iradon puts the axis and the image centre at n // 2 (not (n - 1) / 2): the same
        # phantom drawn about n // 2 (it averages over the angles, so 360 deg needs no scaling)
        image_sk, sino_sk = phantom_and_sinogram(n, angles, centre=n // 2)
        t, rec = timed(lambda: iradon(sino_sk.T, angles, filter_name="ramp", circle=False,
                                      output_size=n), 1)
        circle_sk = (rr - n // 2) ** 2 + (cc - n // 2) ** 2 <= (0.95 * n / 2) ** 2
        err = float(np.sqrt(np.mean((rec[circle_sk] - image_sk[circle_sk]) ** 2)))
        results.append(("skimage.transform.iradon (ramp)", t, err))
    except ImportError:
        print("scikit-image not importable: skipped")
    print(f"{'method':52s} {'time s':>8s} {'x ours':>8s} {'RMSE':>8s}")
    ref_t = results[0][1]
    for name, t, err in results:
        print(f"{name:52s} {t:8.3f} {t / ref_t:8.2f} {err:8.4f}")
    print("('x ours' = time / first-call time of this package's FBP; RMSE inside the phantom "
          "circle, phantom values 0..1)")


if __name__ == "__main__":
    main()
