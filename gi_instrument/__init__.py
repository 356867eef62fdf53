"""gi-instrument: control and acquisition for grating-interferometry phase-contrast micro-CT."""

__version__ = "0.1.0"
