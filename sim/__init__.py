"""Simulated scanner: caproto IOC and physics model (import as gi_instrument.sim)."""
