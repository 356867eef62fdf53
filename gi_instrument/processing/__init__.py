"""Processing: phase retrieval, sinograms, reconstruction, quality figures."""

from gi_instrument.processing.retrieval import (  # noqa: E402
    Retrieval,
    SteppingFit,
    fit_stepping,
    refraction_angle_rad,
    retrieve,
)
from gi_instrument.processing.fbp import (  # noqa: E402
    angular_weights,
    attenuation_per_m,
    delta_from_dpc,
    fbp,
)
from gi_instrument.processing.frc import (  # noqa: E402
    frc,
    frc_even_odd,
    plot_frc,
    resolution_px,
    resolution_um,
    split_even_odd,
)
from gi_instrument.processing.quality import (  # noqa: E402
    angular_sensitivity,
    mip,
    plot_angular_sensitivity,
    plot_visibility_map,
    sigma_alpha_rad,
    snr,
)
from gi_instrument.processing.references import ReferenceSeries, interpolation_weights  # noqa: E402
from gi_instrument.processing.sinograms import (  # noqa: E402
    Sinograms,
    StreamFrames,
    build_sinograms,
    sinograms_from_arrays,
)
from gi_instrument.processing.catalog_reader import CTRun, open_ct_run, read_ct_run  # noqa: E402
from gi_instrument.processing.outputs import (  # noqa: E402
    VolumeFile,
    write_previews,
    write_tiff_stack,
)
