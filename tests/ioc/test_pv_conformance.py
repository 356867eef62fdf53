"""One conformance suite, run against the simulated IOC and against the bridge IOCs in front of
emulated controllers: the PVs of gi_instrument.pv_interface, their types, units and write access,
and the behaviour the devices rely on."""

from __future__ import annotations

import pytest
from caproto import AccessRights, ChannelType
from caproto.sync.client import ErrorResponseReceived

from gi_instrument import pv_interface as I

pytestmark = pytest.mark.ioc

TYPES = {float: {ChannelType.DOUBLE, ChannelType.FLOAT}, int: {ChannelType.LONG, ChannelType.INT},
         str: {ChannelType.CHAR, ChannelType.STRING}, "enum": {ChannelType.ENUM},
         "float[]": {ChannelType.DOUBLE, ChannelType.FLOAT}}
GROUPS = [("TUBE:", I.Tube), ("G2:", I.Piezo), ("ROT:", I.Axis), ("SAMPLE:", I.SampleStage)]


@pytest.fixture(scope="module")
def ad_sim_ioc(tmp_path_factory):
    """The simulated IOC with its camera in the areaDetector layout."""
    from gi_instrument.sim.launcher import SimIOC

    with SimIOC("maast", time_scale=1e-4, binning=8, log_path=tmp_path_factory.mktemp("ad") / "ioc.log",
                extra_args=("--camera-layout", "areadetector"), data_root=tmp_path_factory.getbasetemp()) as ioc:
        yield ioc


@pytest.fixture(params=["simulator", "simulator-areadetector", "bridges"])
def server(request, ca_client):
    """(CA client, instrument prefix, groups served) for the simulated IOC (either camera layout)
    or the bridge IOCs."""
    if request.param.startswith("simulator"):
        layout = request.param == "simulator"
        ioc = request.getfixturevalue("sim_ioc" if layout else "ad_sim_ioc")
        camera = [("CAM:", I.Camera)] if layout else [("CAM:" + I.ADCam.SUFFIX, I.ADCam),
                                                      ("CAM:" + I.ADHDF5.SUFFIX, I.ADHDF5)]
        client = ca_client([ioc.port])
        yield client, ioc.prefix, [*GROUPS, *camera]
    else:
        setup = request.getfixturevalue("bridges")
        client = ca_client(setup["ports"])
        yield client, setup["prefix"], GROUPS


def test_every_interface_pv_is_served_as_declared(server):
    client, prefix, groups = server
    for group_prefix, interface in groups:
        specs = list(I.pvs(interface))
        pvs = client.pvs([prefix + group_prefix + spec for spec in specs])
        for spec, pv in zip(specs, pvs):
            name = f"{group_prefix}{spec}"
            assert pv.channel.native_data_type in TYPES[spec.dtype], f"{name}: {pv.channel.native_data_type}"
            writable = AccessRights.WRITE in pv.channel.access_rights
            assert writable == (spec.writer == "client"), f"{name}: writable {writable}, writer {spec.writer}"
            if spec.unit and spec.dtype is float:
                units = pv.read(data_type="control").metadata.units.decode()
                assert units in ("", spec.unit), f"{name}: units {units!r}, interface {spec.unit!r}"


def test_tube_limits_and_xrays(server):
    client, prefix, _ = server
    t = prefix + "TUBE:"
    max_kv = client.get(t + I.Tube.MAX_VOLTAGE_RBV)
    before = client.get(t + I.Tube.VOLTAGE)
    with pytest.raises(ErrorResponseReceived):
        client.put(t + I.Tube.VOLTAGE, max_kv + 10)
    assert "outside" in client.get(t + I.Tube.STATUS_RBV)
    assert client.get(t + I.Tube.VOLTAGE) == pytest.approx(before)
    client.put(t + I.Tube.XRAY_ON, 1)
    client.wait_for(lambda: client.get(t + I.Tube.XRAY_ON_RBV) == 1)
    power = client.get(t + I.Tube.VOLTAGE_RBV) * client.get(t + I.Tube.CURRENT_RBV)
    assert power > 0 and client.get(t + I.Tube.POWER_RBV) == pytest.approx(power, rel=1e-3)
    client.put(t + I.Tube.XRAY_ON, 0)
    client.wait_for(lambda: client.get(t + I.Tube.XRAY_ON_RBV) == 0)
    assert client.get(t + I.Tube.POWER_RBV) == 0


@pytest.mark.parametrize("group, target", [("G2:", 1.2), ("ROT:", 2.5), ("SAMPLE:", 1.0)])
def test_positioner_moves_and_limits(server, group, target):
    client, prefix, _ = server
    p = prefix + group
    client.put(p + I.Axis.POS, target)
    assert abs(client.get(p + I.Axis.POS_RBV) - target) < 0.05     # the readback is fresh when the put completes
    high = client.get(p + I.Axis.HIGH_LIMIT)
    with pytest.raises(ErrorResponseReceived):
        client.put(p + I.Axis.POS, high + 1.0)
    assert "outside the travel" in client.get(p + I.Axis.STATUS_RBV)
    assert abs(client.get(p + I.Axis.POS_RBV) - target) < 0.05
    client.put(p + I.Axis.POS, 0.0)
