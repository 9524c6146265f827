"""The mutation score of each module after `make mutate` (mutmut's verdicts in ``mutants/``).

Run from the repository root: ``python tests/mutation_report.py [mutants]``. Prints one row per
mutated module (mutants, killed, survived, no test, score = caught / all) and then every
surviving mutant, so that each can be read with ``mutmut show NAME``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes: pytest failed (1, 3) or the mutant ran out of time = caught
CAUGHT = {1, 3, 24, -24, 36, 152, 255}
SURVIVED = {0}
NO_TEST = {5, 33}


def verdicts(root: Path) -> dict[str, dict[str, int | None]]:
    """Module -> {mutant name: exit code (None: not run)}."""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted((root / "src").rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        module = ".".join(meta.relative_to(root / "src").with_suffix("").with_suffix("").parts)
        out[module] = codes
    return out


def main(root: Path) -> int:
    table = verdicts(root)
    if not table:
        print(f"no mutmut results under {root}; run `make mutate` first", file=sys.stderr)
        return 2
    rows, survivors = [], []
    total: Counter[str] = Counter()
    for module, codes in table.items():
        c: Counter[str] = Counter()
        for name, code in codes.items():
            kind = (
                "killed"
                if code in CAUGHT
                else "survived"
                if code in SURVIVED
                else "no test"
                if code in NO_TEST
                else "not run"
                if code is None
                else "other"
            )
            c[kind] += 1
            if kind in ("survived", "no test", "other"):
                survivors.append(f"{kind:8} {name}")
        c["mutants"] = len(codes)
        total.update(c)
        rows.append((module, c))
    rows.append(("all", total))
    print(f"{'module':34} {'mutants':>7} {'killed':>7} {'survived':>8} {'no test':>7} {'score':>6}")
    for module, c in rows:
        run = c["mutants"] - c["not run"]
        score = 100 * c["killed"] / run if run else float("nan")
        print(
            f"{module:34} {c['mutants']:7d} {c['killed']:7d} {c['survived']:8d} "
            f"{c['no test']:7d} {score:5.1f}%"
            + (f"  ({c['not run']} not run)" if c["not run"] else "")
        )
    if survivors:
        print("\nnot killed (read one with `mutmut show NAME`):")
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "mutants")))
