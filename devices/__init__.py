"""Ophyd devices of the grating-interferometry CT (import as gi_instrument.devices)."""
