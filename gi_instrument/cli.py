"""What every ``gi-*`` command shares: ``--version``, plain-text help, one-line errors.

Every entry point builds its parser with :func:`parser` and runs its body through :func:`run`:
an expected failure (bad argument, missing run, IOC not answering) is printed as one line
``prog: message`` on stderr with exit status 1; argparse's own usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import sys
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
    """Call ``body``; a :data:`USER_ERRORS` exception becomes ``prog: message`` on stderr and exit
    status 1, Ctrl-C exit status 130. Returns ``body``'s status (0 if it returns None)."""
    try:
        return int(body() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text = " ".join(str(message).split()) or type(exc).__name__
        print(f"{prog}: {text}", file=sys.stderr)
        return 1
