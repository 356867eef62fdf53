"""Processing: phase retrieval, sinograms, reconstruction, quality figures."""

from gi_instrument.processing.retrieval import (
    Retrieval,
    SteppingFit,
    fit_stepping,
    lever_arm_cm,
    refraction_angle_rad,
    retrieve,
)
from gi_instrument.processing.fbp import (  # the function, over the module name
    angular_weights,
    attenuation_per_m,
    delta_from_dpc,
    fbp,
)
from gi_instrument.processing.frc import (
    frc,
    frc_even_odd,
    plot_frc,
    resolution_px,
    resolution_um,
    split_even_odd,
)
from gi_instrument.processing.quality import (
    angular_sensitivity,
    mip,
    plot_angular_sensitivity,
    plot_visibility_map,
    sigma_alpha_rad,
    snr,
)
from gi_instrument.processing.references import ReferenceSeries, interpolation_weights
from gi_instrument.processing.sinograms import (
    Sinograms,
    StreamFrames,
    build_sinograms,
    sinograms_from_arrays,
)
from gi_instrument.processing.catalog_reader import CTRun, open_ct_run, read_ct_run
from gi_instrument.processing.outputs import (
    VolumeFile,
    write_previews,
    write_tiff_stack,
)

__all__ = [
    "Retrieval",
    "SteppingFit",
    "fit_stepping",
    "refraction_angle_rad",
    "lever_arm_cm",
    "retrieve",
    "angular_weights",
    "attenuation_per_m",
    "delta_from_dpc",
    "fbp",
    "frc",
    "frc_even_odd",
    "plot_frc",
    "resolution_px",
    "resolution_um",
    "split_even_odd",
    "angular_sensitivity",
    "mip",
    "plot_angular_sensitivity",
    "plot_visibility_map",
    "sigma_alpha_rad",
    "snr",
    "Sinograms",
    "StreamFrames",
    "build_sinograms",
    "sinograms_from_arrays",
    "VolumeFile",
    "write_previews",
    "write_tiff_stack",
    "ReferenceSeries",
    "interpolation_weights",
    "CTRun",
    "open_ct_run",
    "read_ct_run",
]
