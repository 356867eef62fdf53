"""Tomographic reconstruction: parallel, fan and cone beam; filters, weights, gridding, back-ends.

Modules (lower ones do not import higher ones):

- :mod:`.filters` ramp and Hilbert filters from their sampled kernels;
- :mod:`.weights` angular weights (360 deg, Parker short scans, fan-beam Parker);
- :mod:`.gridding` the Fourier-gridding back-projector;
- :mod:`.astra_backend` optional astra-toolbox back-projection and references;
- :mod:`.parallel` :func:`fbp`, parallel-beam filtered back-projection (with truncation
  correction);
- :mod:`.units` ``mu`` / dark-field in 1/m and ``delta`` from the refraction angle;
- :mod:`.geometry` :class:`Geometry`, the run's beam, distances and rotation axis;
- :mod:`.fdk` FDK back-projection along the cone's tilted rays (after rebinning and filtering),
  and :func:`use_fdk`, where the cone angle needs it;
- :mod:`.cone` rebinning of fan/cone beams (and tilted axes) to parallel beam, and
  :func:`reconstruct`, one call from sinograms and geometry to a volume;
- :mod:`.axis` rotation-axis (centre and tilt) finding; :mod:`.rings` stripe (ring) removal.
"""

from gi_instrument.processing.reconstruction.astra_backend import (
    astra_available,
    astra_reference_fbp,
)
from gi_instrument.processing.reconstruction.axis import AxisFit, find_axis
from gi_instrument.processing.reconstruction.cone import ParallelSinograms, reconstruct, to_parallel
from gi_instrument.processing.reconstruction.fdk import use_fdk
from gi_instrument.processing.reconstruction.geometry import Geometry
from gi_instrument.processing.reconstruction.parallel import fbp
from gi_instrument.processing.reconstruction.rings import remove_stripes
from gi_instrument.processing.reconstruction.units import attenuation_per_m, delta_from_dpc
from gi_instrument.processing.reconstruction.weights import (
    ScanTooShortError,
    angular_weights,
    fan_weights,
)

__all__ = [
    "AxisFit",
    "Geometry",
    "ParallelSinograms",
    "ScanTooShortError",
    "angular_weights",
    "astra_available",
    "astra_reference_fbp",
    "attenuation_per_m",
    "delta_from_dpc",
    "fan_weights",
    "fbp",
    "find_axis",
    "reconstruct",
    "remove_stripes",
    "to_parallel",
    "use_fdk",
]
