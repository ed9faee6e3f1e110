"""Run the compatibility cases and print each failure: ``python -m tests.compat.run [mode]``."""

import sys

from tests.compat.harness import MODES, all_cases, restate_installed, run_case


def main(argv: list[str]) -> int:
    modes = argv or [m for m in MODES if m != "real" or restate_installed()]
    for mode in modes:
        cases = all_cases()
        bad = 0
        for program, case in cases:
            out = run_case(program, case, mode)
            if not out.ok:
                bad += 1
                print(f"[{mode}] {program} :: {case.name}")
                for p in out.problems:
                    print(f"      {p}")
        print(f"[{mode}] {len(cases) - bad} of {len(cases)} cases pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
