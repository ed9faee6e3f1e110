"""``python -m simdurable`` and the ``simdurable`` script."""

from __future__ import annotations

import os
import sys

from ._cli import main as _main


def main() -> None:
    try:
        status = _main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``simdurable check ... | head``): no traceback.
        # Python flushes stdout again at exit; point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C during a check, a soak or an import: the shell's status for
        # SIGINT, without a traceback through simdurable's own frames.
        print("simdurable: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


if __name__ == "__main__":
    main()
