"""``python -m simdurable`` and the ``simdurable`` script."""

from __future__ import annotations

import gc
import os
import sys

from ._cli import main as _main


def main() -> None:
    try:
        status = _main()
        sys.stdout.flush()
        # The interpreter's teardown collects every object it holds, several times
        # over: with simdurable's imports (and a server's or a check's objects) that
        # took more than a second under load, between "simdurable: stopped" and the
        # process's exit. One collection now (the finalizers of garbage run, files
        # left open are flushed), then none: the rest lives until the process ends.
        _settle()
    except BrokenPipeError:
        # The reader went away (``simdurable check ... | head``): no traceback.
        # Python flushes stdout again at exit; point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C during a check, a soak or an import: the shell's status for
        # SIGINT, without a traceback through simdurable's own frames.
        print("simdurable: interrupted", file=sys.stderr)
        _settle()
        sys.exit(130)
    sys.exit(status)


def _settle() -> None:
    """Collect garbage once, then exempt what lives from the collections of the
    interpreter's teardown (see ``main``)."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    main()
