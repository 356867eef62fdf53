"""Bluesky plans for phase-stepping CT (import as gi_instrument.plans)."""

from gi_instrument.plans.schedule import CTSchedule, ct_schedule, estimate_ct_seconds, format_duration

__all__ = ["CTSchedule", "ct_schedule", "estimate_ct_seconds", "format_duration"]
