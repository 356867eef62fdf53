"""Compatibility names: reconstruction lives in :mod:`gi_instrument.processing.reconstruction`.

``gi_instrument.processing.fbp`` is the function
:func:`~gi_instrument.processing.reconstruction.parallel.fbp` (the package re-exports it over this
module's name); ``from gi_instrument.processing.fbp import ...`` keeps working for these names.
"""

from gi_instrument.processing.reconstruction.astra_backend import (
    astra_available,
    astra_reference_fbp,
)
from gi_instrument.processing.reconstruction.parallel import fbp
from gi_instrument.processing.reconstruction.units import attenuation_per_m, delta_from_dpc
from gi_instrument.processing.reconstruction.weights import angular_weights

__all__ = ["fbp", "astra_reference_fbp", "angular_weights", "attenuation_per_m",
           "delta_from_dpc", "astra_available"]
