"""Instrument profiles (TOML) shipped with the package: tli.toml, maast.toml."""
