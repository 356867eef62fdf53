"""gi-export: write a run in a format other tools open.

    gi-export -1 --nxtomo ct.nxs            the last run as NXtomo, frames referenced (virtual datasets)
    gi-export 3f2a --nxtomo ct.nxs --copy   frames copied into the file (portable, as large as the raw data)

The NXtomo file (NeXus) holds image_key (0 projection, 1 flat, 2 dark), rotation angles, G2
positions and the frames; tomopy/dxchange, nxtomomill/tomwer and Fiji's HDF5 import read it.
Without --copy it references the detector's HDF5 files by their path relative to the NXtomo file:
keep them where they are, or move both together.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gi_instrument import cli

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``gi-export``."""
    from gi_instrument.catalog import DATA_DIR_ENV

    parser = cli.parser("gi-export", __doc__)
    parser.add_argument("run", help="run uid (or its beginning), or -N for the N-th last run")
    parser.add_argument("--nxtomo", required=True, metavar="FILE", help="NXtomo (NeXus HDF5) file to write")
    parser.add_argument("--copy", action="store_true", help="copy the frames into the file instead of referencing them")
    parser.add_argument("--data-dir", default=None, help=f"catalog directory (${DATA_DIR_ENV} or ~/gi-data)")
    args = parser.parse_args(argv)

    def export() -> None:
        from gi_instrument.catalog import open_catalog
        from gi_instrument.nxtomo import write_nxtomo
        from gi_instrument.processing.catalog_reader import open_ct_run

        ct = open_ct_run(open_catalog(args.data_dir, create=False), args.run)
        path = write_nxtomo(ct, args.nxtomo, copy=args.copy)
        print(f"gi-export: run {ct.uid} -> {path} ({'frames copied' if args.copy else 'frames referenced'})")

    return cli.run("gi-export", export)


if __name__ == "__main__":
    sys.exit(main())
