"""What every ``gi-*`` command shares: ``--version``, plain-text help, one-line errors.

Every entry point builds its parser with :func:`parser` and runs its body through :func:`run`:
an expected failure (bad argument, missing run, IOC not answering) ends the program with one line
``prog: message`` on stderr and exit status 1 (``SystemExit``); argparse's own usage errors exit
with 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable

from gi_instrument import __version__

__all__ = ["parser", "run", "USER_ERRORS"]

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, IndexError, LookupError, RuntimeError,
                                                 OSError, TimeoutError)
"""Exceptions a command reports in one line instead of a traceback (they carry a message for the
user: a bad argument, a run not found, a file that cannot be written, a controller not answering)."""


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with ``--version`` whose help shows ``description`` and ``epilog`` as
    written (plain text, no markup)."""
    out = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    out.add_argument("--version", action="version", version=f"{prog} {__version__}")
    return out


def run(prog: str, body: Callable[[], int | None]) -> int:
    """Call ``body`` and return its status (0 if it returns None); a :data:`USER_ERRORS` exception
    raises ``SystemExit("prog: message")`` (one line on stderr, status 1), Ctrl-C exits with 130.
    UserWarnings (the package's: a limited-angle scan, a failed container fit) are shown once
    each, as ``prog: warning: message``."""

    def one_line(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("once", category=UserWarning)
            warnings.showwarning = one_line
            return int(body() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text = " ".join(str(message).split()) or type(exc).__name__
        raise SystemExit(f"{prog}: {text}") from None
