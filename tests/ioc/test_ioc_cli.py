"""``gi-ioc`` and ``gi-sim-ioc --parts`` refuse bad command lines before anything starts."""

from __future__ import annotations

import pytest

from gi_instrument.ioc.cli import _parse_args, build_bridge
from gi_instrument.ioc.positioner import SampleStageBridge, StageBridge
from gi_instrument.ioc.tube import TubeBridge
from gi_instrument.pv_interface import SampleStage
from gi_instrument.sim.ioc import _parse_args as sim_args


@pytest.mark.parametrize("argv, message", [
    (["tube", "--driver", "pi-gcs", "--port", "loop://"], "--driver for tube must be one of"),
    (["piezo", "--driver", "kou", "--port", "loop://"], "--driver for piezo must be one of"),
    (["stage", "--driver", "pi-gcs", "--port", "loop://", "--ca-port", "70000"], "--ca-port"),
    (["stage", "--driver", "pi-gcs", "--port", "loop://", "--poll-s", "0"], "--poll-s"),
])
def test_bad_command_lines(argv, message, capsys):
    with pytest.raises(SystemExit):
        _parse_args(argv)
    assert message in capsys.readouterr().err


def test_bridges_serve_the_interface_names():
    tube = build_bridge(_parse_args(["tube", "--driver", "kou", "--port", "loop://", "--prefix", "X:"]))
    assert isinstance(tube, TubeBridge) and "X:TUBE:Voltage_RBV" in tube.pvdb
    assert not any(name.endswith(("Arc", "InterlockOpen", "ColdStart")) for name in tube.pvdb)  # no fault PVs
    rotation = build_bridge(_parse_args(["stage", "--driver", "pi-gcs", "--port", "loop://", "--prefix", "X:"]))
    assert type(rotation) is StageBridge and "X:ROT:Pos" in rotation.pvdb
    sample = build_bridge(_parse_args(["stage", "--stage", "sample", "--driver", "pi-gcs", "--port", "loop://",
                                       "--prefix", "X:"]))
    assert isinstance(sample, SampleStageBridge) and f"X:SAMPLE:{SampleStage.OUT_POS_RBV}" in sample.pvdb


def test_sim_ioc_parts(capsys):
    assert sim_args(["--parts", "camera,sim", "--camera-layout", "areadetector"]).parts == ("camera", "sim")
    with pytest.raises(SystemExit):
        sim_args(["--parts", "camera,laser"])
    assert "--parts must name some of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sim_args(["--parts", "camera,sim"])             # scanner layout steps its own G2
    assert "serve tube and g2 too" in capsys.readouterr().err
