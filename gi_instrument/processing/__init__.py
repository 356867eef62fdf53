"""Processing: phase retrieval, sinograms, reconstruction, quality figures."""

from gi_instrument.processing.retrieval import (  # noqa: E402
    Retrieval,
    SteppingFit,
    fit_stepping,
    refraction_angle_rad,
    retrieve,
)
