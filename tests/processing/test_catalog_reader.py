"""Reading a gi_ct run back from the embedded catalog (documents composed from arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing.catalog_reader import open_ct_run
from gi_instrument.processing.sinograms import sinograms_from_arrays


def test_run_reads_back_to_the_sinograms_of_its_arrays(
    catalog, compose_gi_ct_run, drifting_ct, tmp_path
) -> None:
    arrays, truth = drifting_ct
    arrays = {**arrays, "references": np.round(arrays["references"]),
              "projections": np.round(arrays["projections"]), "darks": np.round(arrays["darks"])}
    uid = compose_gi_ct_run(arrays)
    ct = open_ct_run(catalog, uid[:8])
    assert ct.uid == uid and ct.shape == (7, 9) and ct.n_dark == 2 and ct.steps == 5
    assert ct.voxel_um == 7.5 and ct.period_um == 3.0 and ct.g1_g2_cm == pytest.approx(60.3)
    # TLI's sample sits 22.6 cm from the source, behind G1 (20.1 cm): d_eff = 80.4 - 22.6 cm
    assert ct.lever_arm_cm == pytest.approx(80.4 - 80.4 / 3.56)
    assert len(ct.primary.angle_index) == 12 * 5
    assert sorted(ct.files) == ["dark", "primary", "reference"]  # HDF5 files read directly
    through_tiled = open_ct_run(catalog, uid, direct=False)
    assert not through_tiled.files
    expected = arrays["projections"][1:3, :, 2:4].reshape(10, 2, 9)  # across two files
    for reader in (ct, through_tiled):
        np.testing.assert_array_equal(reader.read("primary", slice(5, 15), slice(2, 4)), expected)
    np.testing.assert_array_equal(ct.read("reference", slice(0, 100), slice(0, 7)),
                                  through_tiled.read("reference", slice(0, 100), slice(0, 7)))
    from_catalog = ct.sinograms(chunk_rows=4, out_dir=tmp_path)
    from_arrays = sinograms_from_arrays(**arrays, period_um=3.0)
    np.testing.assert_allclose(from_catalog.angles_deg, arrays["angles_deg"])
    for name in ("transmission", "dpc", "darkfield"):
        np.testing.assert_allclose(getattr(from_catalog, name), getattr(from_arrays, name),
                                   atol=1e-6)
    np.testing.assert_allclose(from_catalog.dpc, truth["dpc"], atol=2e-2)  # uint16 rounding
    assert open_ct_run(catalog, -1).uid == uid


def test_other_plans_are_refused(catalog, compose_gi_ct_run, drifting_ct) -> None:
    uid = compose_gi_ct_run(drifting_ct[0], plan_name="count")
    with pytest.raises(ValueError, match="not gi_ct"):
        open_ct_run(catalog, uid)
