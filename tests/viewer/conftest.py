"""Viewer fixtures: headless Qt, a small gi_ct on the simulated IOC followed live through a
bluesky-0MQ-proxy, a processed volume of the breast specimen, and reading back what a widget
rendered."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any QApplication: no display needed
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

CALCIFICATIONS = ("hydroxyapatite", "calcium_oxalate")
VOLUME_BINNING = 8
"""Truth volume at binning 8: 256 x 256 voxels of 68 um."""
VOLUME_ROWS = (122, 140)
"""Detector rows (binned) of the volume: the band with the DCIS cluster of calcifications."""


@pytest.fixture(scope="session")
def qt_app():
    """The QApplication on Qt's offscreen platform, pyqtgraph configured as gi-viewer does."""
    from gi_instrument.viewer.qt import application

    return application(headless=True)


@pytest.fixture(scope="session")
def rendered():
    """:func:`rendered_pixels`."""
    return rendered_pixels


def rendered_pixels(panel) -> np.ndarray:
    """What ``panel`` (an ImagePanel) shows, read back from ``panel.grab()``: the grey level
    (mean of R, G, B) at the centre of every image pixel, (rows, cols) float."""
    from pyqtgraph.Qt import QtGui

    grab = panel.graphics.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    width, height = grab.width(), grab.height()
    pixels = np.frombuffer(grab.constBits(), np.uint8, count=grab.sizeInBytes())
    pixels = pixels.reshape(height, grab.bytesPerLine())[:, :width * 4].reshape(height, width, 4)
    ratio = grab.devicePixelRatio()
    rows, cols = panel.image.shape
    rect = panel.image_item.boundingRect()
    corners = [panel.graphics.mapFromScene(panel.image_item.mapToScene(p))
               for p in (rect.topLeft(), rect.bottomRight())]
    (x0, y0), (x1, y1) = [(c.x() * ratio, c.y() * ratio) for c in corners]
    x = np.clip((x0 + (x1 - x0) * (np.arange(cols) + 0.5) / cols).astype(int), 0, width - 1)
    y = np.clip((y0 + (y1 - y0) * (np.arange(rows) + 0.5) / rows).astype(int), 0, height - 1)
    out = pixels[y[:, None], x[None, :], :3].mean(axis=-1)
    return out


@pytest.fixture(scope="session")
def live_run(RE, instrument, zmq_proxy, follow_documents):
    """A small gi_ct (4 projections 5 deg apart at 60 s per step, references every 10 deg and at the
    end) on the session's simulated IOC, published through the proxy and followed by a LiveReceiver +
    LiveState as ``gi-viewer --live`` does; returns (uid, state, the run's documents in order)."""
    from gi_instrument.plans import gi_ct
    from gi_instrument.viewer.live import LiveState

    in_addr, out_addr = zmq_proxy
    state = LiveState()
    receiver, publisher = follow_documents(in_addr, out_addr, state)
    docs: list[tuple[str, dict]] = []
    tokens = [RE.subscribe(publisher), RE.subscribe(lambda name, doc: docs.append((name, doc)))]
    try:
        RE(gi_ct(instrument, exposure_s=60.0, angle_step_deg=5.0, range_deg=20.0, reference_every_deg=10.0,
                 final_reference=True, n_darks=2))
        deadline = time.monotonic() + 20
        while state.status().running or state.status().uid != docs[0][1]["uid"]:
            assert time.monotonic() < deadline, "the live state never saw the run's stop document"
            time.sleep(0.05)
    finally:
        for token in tokens:
            RE.unsubscribe(token)
        publisher.close()
        receiver.stop()
    return docs[0][1]["uid"], state, docs


@pytest.fixture(scope="session")
def specimen_volume(tmp_path_factory):
    """A processed-volume folder (``volumes.h5`` as gi-process writes it, with
    :class:`~gi_instrument.processing.VolumeFile`) holding the breast specimen's true mu, delta
    and dark-field coefficient (:func:`gi_instrument.sim.truth.render_slice`) on detector rows
    ``VOLUME_ROWS`` at binning 8; returns (folder, the (z, y, x) voxel coordinates of the
    phantom's calcifications in the slab)."""
    from gi_instrument.processing import VolumeFile
    from gi_instrument.profile import load_profile
    from gi_instrument.sim.materials import breast_materials
    from gi_instrument.sim.phantom import breast_specimen
    from gi_instrument.sim.truth import render_slice, slice_height_um

    profile = load_profile("maast")
    phantom = breast_specimen(profile, seed=5)
    materials = breast_materials(profile.source.design_energy_keV)
    rows = range(*VOLUME_ROWS)
    voxel_um = profile.voxel_um * VOLUME_BINNING
    slabs = 2  # each slice the mean of 2 planes in z and 2 x 2 points in-plane: partial volumes

    def voxels(row: int):
        z_um = slice_height_um(profile, row, VOLUME_BINNING)
        planes = [render_slice(phantom, materials, profile, z_um=z_um + ((i + 0.5) / slabs - 0.5) * voxel_um,
                               binning=VOLUME_BINNING, supersampling=2) for i in range(slabs)]
        return {attr: np.mean([getattr(p, attr) for p in planes], axis=0)
                for attr in ("delta", "mu_per_m", "darkfield_per_m")}

    slices = [voxels(r) for r in rows]
    out = tmp_path_factory.mktemp("processed")
    cols = slices[0]["mu_per_m"].shape[0]
    with VolumeFile(out / "volumes.h5", {"run_uid": "specimen-truth"}, voxel_um) as vf:
        for name, attr, unit in (("delta", "delta", "1"), ("attenuation", "mu_per_m", "1/m"),
                                 ("darkfield", "darkfield_per_m", "1/m")):
            vf.create(name, (len(rows), cols, cols), unit, f"true {attr} of the specimen")
            vf.volume(name)[:] = np.stack([s[attr] for s in slices]).astype(np.float32)
    z_um = np.array([slice_height_um(profile, r, VOLUME_BINNING) for r in rows])
    c = (cols - 1) / 2
    centres = [(z_m * 1e6, y_m * 1e6 / voxel_um + c, x_m * 1e6 / voxel_um + c)
               for inc in phantom.inclusions if inc.material in CALCIFICATIONS
               for x_m, y_m, z_m in [inc.shape.center_m]]
    return out, [(float(np.interp(z, z_um[::-1], np.arange(len(rows))[::-1])), y, x) for z, y, x in centres
                 if z_um.min() - voxel_um < z < z_um.max() + voxel_um]


@pytest.fixture(scope="session")
def suspended_run(RE, instrument, sim_pv, zmq_proxy, follow_documents):
    """A small gi_ct (no darks, 2 projections 5 deg apart, references every 5 deg) whose first
    stepping scan is suspended by the tube's interlock, opened during an exposure on the simulated
    IOC (as tests/test_faults.py does), published through the proxy and followed by a LiveState;
    the interlock is closed only once the live state shows the suspension in progress. Returns
    (uid, state, the suspension status seen while it lasted)."""
    import threading

    from gi_instrument.plans import gi_ct
    from gi_instrument.suspenders import install_suspenders
    from gi_instrument.viewer.live import LiveState

    state = LiveState()
    receiver, publisher = follow_documents(*zmq_proxy, state)
    suspenders = install_suspenders(RE, instrument)
    interlock = sim_pv("TUBE:InterlockOpen")
    sim_pv("CAM:HangTime").put(2e4, wait=True)      # the first frame hangs 2 s (real): time to open it
    sim_pv("CAM:AcquireTimeout").put(1, wait=True)
    seen = []

    def wait_for(predicate, what: str) -> None:
        deadline = time.monotonic() + 20
        while not predicate():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def open_during_the_exposure() -> None:
        try:
            wait_for(lambda: sim_pv("CAM:DetectorState_RBV").get() == 1, "no exposure began")
            interlock.put(1, wait=True)
            wait_for(lambda: state.status().suspended_cause, "the live state never saw the suspension")
            seen.append(state.status())
        finally:
            interlock.put(0, wait=True)

    token = RE.subscribe(publisher)
    thread = threading.Thread(target=open_during_the_exposure)
    try:
        thread.start()
        RE(gi_ct(instrument, exposure_s=1.0, angle_step_deg=5.0, range_deg=10.0, reference_every_deg=5.0,
                        n_darks=0))
        wait_for(lambda: state.status().uid and not state.status().running, "the run's stop never came through")
    finally:
        thread.join()
        RE.unsubscribe(token)
        for suspender in suspenders:
            RE.remove_suspender(suspender)
        RE.record_interruptions = False
        publisher.close()
        receiver.stop()
    assert seen, "the interlock was opened before the live state saw the suspension"
    return state.status().uid, state, seen[0]
