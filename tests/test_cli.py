"""Every ``gi-*`` command: ``--version``, plain-text ``--help``, errors in one line with a non-zero
status, and no data directory created by a command that only reads."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

ENTRY_POINTS = {ep.name: ep for ep in distribution("gi-instrument").entry_points if ep.group == "console_scripts"}
SCRIPTS = sorted(ENTRY_POINTS)
MARKUP = re.compile(r"``|:(class|func|mod|meth|data):`")


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_every_command_is_installed():
    assert {"gi-session", "gi-runs", "gi-export", "gi-process", "gi-demo", "gi-sim-ioc",
            "gi-queue-server"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_version_and_plain_text_help(name, capsys):
    from gi_instrument import __version__

    main = ENTRY_POINTS[name].load()  # what the installed script runs
    for option in ("--version", "--help"):
        with pytest.raises(SystemExit) as exit_info:
            main([option])
        assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{name} {__version__}\nusage: {name}") and err == ""
    assert not MARKUP.search(out), out


def _fails(argv: list[str]) -> str:
    """Run a command's entry point in this process; the one-line message it exits with."""
    with pytest.raises(SystemExit) as exit_info:
        ENTRY_POINTS[argv[0]].load()(argv[1:])
    message = exit_info.value.code
    assert isinstance(message, str) and "\n" not in message, (argv, message)  # Python prints it, status 1
    return message


def test_reading_commands_create_no_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "nothing-here"
    expected = f"no catalog in {data_dir} (nothing acquired there yet; --data-dir or $GI_DATA_DIR chooses another directory)"
    for argv in (["gi-process", "-1"], ["gi-export", "-1", "--nxtomo", "x.nxs"], ["gi-viewer", "-1"]):
        assert _fails([*argv, "--data-dir", str(data_dir)]) == f"{argv[0]}: {expected}"
    # the installed script: the same line on stderr, exit status 1
    done = subprocess.run([_script("gi-runs"), "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (1, f"gi-runs: {expected}\n")
    assert not data_dir.exists() and not (tmp_path / "x.nxs").exists()


def test_errors_are_one_line(tmp_path, monkeypatch):
    from gi_instrument.catalog import open_catalog

    monkeypatch.chdir(tmp_path)
    open_catalog(tmp_path)  # an empty catalog
    cases = {
        ("gi-process", "-1", "--data-dir", str(tmp_path)): "gi-process: run -1: the catalog holds 0 run(s)",
        ("gi-runs", "--since", "yesterday", "--data-dir", str(tmp_path)): "gi-runs: --since 'yesterday': give",
        ("gi-queue-server", "--profile", "nosuch", "--fake-redis"): "gi-queue-server: nosuch:",
        ("gi-export", "0123456789", "--nxtomo", "x.nxs", "--data-dir", str(tmp_path)):
            "gi-export: no run '0123456789' in the catalog (gi-runs lists them)",
    }
    for argv, start in cases.items():
        assert _fails(list(argv)).startswith(start), argv
    with pytest.raises(SystemExit) as exit_info:  # refused by the parser, before anything starts
        ENTRY_POINTS["gi-demo"].load()(["--binning", "3"])
    assert exit_info.value.code == 2


def test_durations_read_as_hours_minutes_seconds():
    from gi_instrument.plans import format_duration

    assert format_duration(240560) == "66 h 49 min 20 s"
    assert format_duration(330000) == "91 h 40 min"
    assert format_duration(59.6) == "1 min"
    assert format_duration(42) == "42 s"
    assert format_duration(0) == "0 s"
    assert format_duration(float("inf")) == "?"


def test_package_warnings_are_shown_once_in_one_line(capsys):
    import numpy as np

    from gi_instrument import cli
    from gi_instrument.processing import fbp

    def body() -> None:
        sinogram, angles = np.ones((10, 16)), np.linspace(0, 90, 10)
        fbp(sinogram, angles, "ramp")
        fbp(sinogram, angles, "ramp")

    assert cli.run("gi-x", body) == 0
    assert capsys.readouterr().err == "gi-x: warning: scan covers 100.00 deg < 180 deg: limited-angle reconstruction\n"
