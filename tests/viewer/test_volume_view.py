"""The volume window on a processed volume of the breast specimen: MIP slab, slice scroll, CLAHE,
non-local means, exports, snapshot, scale bar and read-out."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import ndimage

CALCIFIED_PER_M = 100.0
"""mu above which a voxel holds calcium (tissue and formalin stay below ~90 /m at 20 keV)."""

from gi_instrument.processing.outputs import read_tiff_voxel_um


@pytest.fixture
def volume_window(qt_app, qtbot, specimen_volume):
    from gi_instrument.viewer.volume_data import VolumeData
    from gi_instrument.viewer.windows import VolumeWindow

    folder, _ = specimen_volume
    window = VolumeWindow(VolumeData(folder))
    qtbot.addWidget(window)
    window.resize(900, 900)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.data.close()


def _spots(mask: np.ndarray) -> list[tuple[float, float]]:
    """Centres (row, col) of the connected bright regions of a 2-D mask."""
    labels, n = ndimage.label(mask)
    return ndimage.center_of_mass(mask, labels, range(1, n + 1)) if n else []


def _interior(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its 2-pixel border, where the axes' ticks point into the view."""
    out = np.zeros_like(mask)
    out[2:-2, 2:-2] = mask[2:-2, 2:-2]
    return out


def test_mip_shows_the_calcifications(volume_window, specimen_volume, rendered):
    """The slab's MIP of mu, as rendered in the window, shows every calcification of the slab as
    a bright spot on darker tissue, where the phantom put them; a single slice shows fewer."""
    _, centres = specimen_volume
    mu = h5py.File(volume_window.data.path, "r")["volumes/attenuation"][()]
    depth = mu.shape[0]
    spots = _spots(mu.max(axis=0) > CALCIFIED_PER_M)
    assert len(spots) >= 8
    for y, x in spots:  # the bright spots are the phantom's calcifications
        assert min(np.hypot(y - cy, x - cx) for _, cy, cx in centres) < 2.0, (y, x)

    volume_window.go_to("attenuation", "xy", depth // 2, thickness=depth, limits=(0.0, 400.0))
    assert "MIP of 18 slices" in volume_window.panel.plot.titleLabel.text
    volume_window.panel.scale_bar.hide()  # an overlay, drawn over the image's corner
    shown = rendered(volume_window.panel)
    tissue = np.median(shown)
    bright = _interior(shown > tissue + 60)
    assert all(shown[round(y) - 1:round(y) + 2, round(x) - 1:round(x) + 2].max() > tissue + 60 for y, x in spots)
    calcified = ndimage.binary_dilation(mu.max(axis=0) > CALCIFIED_PER_M, iterations=1)
    assert not np.any(bright & ~calcified), np.argwhere(bright & ~calcified)  # nothing else is as bright

    in_one_slice = [len(_spots(mu[k] > CALCIFIED_PER_M)) for k in range(depth)]
    k = int(np.argmax(in_one_slice))
    volume_window.go_to("attenuation", "xy", k, thickness=1, limits=(0.0, 400.0))
    assert len(_spots(_interior(rendered(volume_window.panel) > tissue + 60))) == in_one_slice[k] < len(spots)


def test_scrolling_slices_changes_the_image(volume_window, rendered):
    volume_window.go_to("delta", "xy", 3)
    before = rendered(volume_window.panel)
    volume_window.slice.setValue(14)  # as the slider does when dragged
    after = rendered(volume_window.panel)
    assert "xy slice 14/17" in volume_window.panel.plot.titleLabel.text
    assert np.abs(after - before).mean() > 2.0
    np.testing.assert_array_equal(volume_window.shown, volume_window.data.slab("delta", "xy", 14))
    volume_window.plane.setCurrentText("xz")  # other planes: (z, x) images
    assert volume_window.shown.shape == (18, 256)


def test_clahe_and_non_local_means_use_the_display_parameters(volume_window):
    from gi_instrument.viewer.display import Clahe, clahe, nl_means

    volume_window.go_to("delta", "xy", 9, limits=(0.0, 2e-7))
    plain = volume_window.panel.image.copy()
    volume_window.clahe_block.setValue(31)
    volume_window.use_clahe.setChecked(True)
    np.testing.assert_allclose(volume_window.panel.image, clahe(plain, (0.0, 2e-7), Clahe(31, 256, 3.0)))
    assert volume_window.panel.image.min() >= 0 and volume_window.panel.image.max() <= 1
    volume_window.use_clahe.setChecked(False)
    np.testing.assert_array_equal(volume_window.panel.image, plain)  # back to the data and its limits
    assert tuple(volume_window.panel.image_item.getLevels()) == pytest.approx((0.0, 2e-7))
    volume_window.use_nlm.setChecked(True)
    np.testing.assert_allclose(volume_window.panel.image, nl_means(plain), rtol=1e-5)


def test_exports_and_read_out(volume_window, tmp_path):
    from gi_instrument.viewer.windows import save_png

    volume_window.go_to("attenuation", "xy", 9, thickness=5)
    tiff = volume_window.export_tiff(tmp_path / "mip.tif")
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(tiff), volume_window.data.slab("attenuation", "xy", 9, 5))
    voxel = volume_window.data.voxel_um
    np.testing.assert_allclose(read_tiff_voxel_um(tiff), [voxel] * 3, rtol=1e-6)
    png = save_png(volume_window, tmp_path / "view.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    panel = volume_window.panel
    assert panel.scale_bar is not None and panel.scale_bar.size == pytest.approx(2e-3)  # 17.4 mm field
    value = panel.image[40, 70]
    assert panel.describe(40, 70) == (f"x {70.5 * voxel:.1f} um, y {40.5 * voxel:.1f} um  [40, 70]  "
                                      f"value {value:.5g} 1/m")
