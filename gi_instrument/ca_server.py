"""Channel Access server settings shared by the simulated IOC and the bridge IOCs."""

from __future__ import annotations

__all__ = ["LOOPBACK", "server_env"]

LOOPBACK = "127.0.0.1"


def server_env(port: int, interface: str) -> dict[str, str]:
    """Channel Access server settings: one port, one interface, beacons kept on that interface."""
    return {
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": interface,
        "EPICS_CAS_BEACON_ADDR_LIST": interface,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    }
