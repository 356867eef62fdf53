"""Channel Access server settings and the server loop shared by the simulated IOC and the bridge IOCs."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Mapping

__all__ = ["LOOPBACK", "server_env", "ca_context", "serve"]

LOOPBACK = "127.0.0.1"


def server_env(port: int, interface: str) -> dict[str, str]:
    """Channel Access server settings: one port, one interface, beacons kept on that interface."""
    return {
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": interface,
        "EPICS_CAS_BEACON_ADDR_LIST": interface,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    }


def ca_context(pvdb: Mapping[str, Any], interface: str) -> Any:
    """caproto's asyncio server context for ``pvdb`` on ``interface`` (its port from
    ``EPICS_CA_SERVER_PORT``), with Nagle's algorithm off on every client circuit; make it in the
    event loop that runs it (``await context.run()``).

    EPICS's own server sets ``TCP_NODELAY`` on its circuits; caproto's asyncio server leaves
    Nagle on. Then a reply sent while an earlier one is not yet acknowledged waits for the
    client's delayed acknowledgement (~40 ms on Linux): with the simulated IOC, the third of
    several puts in flight together completed after ~48 ms instead of ~5."""
    from caproto.asyncio.server import Context

    class NoDelayContext(Context):
        async def tcp_handler(self, client: Any, addr: Any) -> None:
            sock = client.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await super().tcp_handler(client, addr)

    return NoDelayContext(pvdb, [interface])


def serve(pvdb: Mapping[str, Any], interface: str) -> None:
    """Serve ``pvdb`` on ``interface`` until interrupted (``caproto.server.run`` with
    :func:`ca_context`)."""

    async def run() -> None:
        await ca_context(pvdb, interface).run()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
