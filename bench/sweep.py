"""Wall time of a 16-trial sweep on the S&P 500 variance target: serial vs process pool vs Ray
(goal: both parallel executors >= 1.8x serial on 2 cores), Ray's and the pool's per-task overhead
(goal: < 5% of a task), and the cost of resuming a killed sweep (goal: <= one trial per worker
lost). Not a test; prints tables.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/sweep.py [--rounds 1] [--epochs 3]

The grid: window 5,10,22,44 x lr 5e-4,2e-3 x cell lstm,gru (16 configurations, one seed), small
nets (hidden 8, ``--epochs`` cold and 1 warm epoch), selection 2014 refit every 21 days, a
short test (2015 Q1) so that the parallel selection phase dominates. Contenders alternate in
rounds; min and median over rounds.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.experiment.sweep import SweepConfig, run_sweep

GRID = {"window": (5, 10, 22, 44), "lr": (5e-4, 2e-3), "cell": ("lstm", "gru")}


def _config(out: Path, executor: str, epochs: int) -> SweepConfig:
    return SweepConfig(
        out=str(out),
        test_start="2015-01-01",
        test_end="2015-03-31",
        select_start="2014-01-01",
        grid=dict(GRID),
        fixed={"epochs": epochs, "warm_epochs": 1, "hidden": 8},
        executor=executor,  # type: ignore[arg-type]
        n_jobs=2,
    )


def _overhead(trials: pd.DataFrame) -> tuple[float, float]:
    """Mean task seconds, and the mean gap between one task's end and the next task's start in
    the same worker (what the executor adds per task: results back, next task in, arguments)."""
    sel = trials[trials["phase"] == "select"].sort_values("started")
    gaps: list[float] = []
    for _, lane in sel.groupby("pid"):
        s, f = lane["started"].to_numpy(), lane["finished"].to_numpy()
        gaps += list(s[1:] - f[:-1])
    return float(sel["seconds"].mean()), (statistics.mean(gaps) if gaps else float("nan"))


def _kill_and_resume(root: Path, epochs: int) -> dict[str, Any]:
    """Start a pool sweep in a child process, kill it (SIGKILL, its whole process group) once half
    the trials are done, then resume it here; count what was recomputed."""
    out = root / "killed"
    code = (
        "import sys; sys.path.insert(0, 'bench'); from sweep import _config; "
        "from gatecast.experiment.sweep import run_sweep; from pathlib import Path; "
        f"run_sweep(_config(Path({str(out)!r}), 'pool', {epochs}))"
    )
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        while len(list(out.glob("trials/*/select.json"))) < 8 and child.poll() is None:
            time.sleep(0.2)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    done = {p.parent.name for p in out.glob("trials/*/select.json")}
    running = [p for p in out.glob("trials/*") if p.name not in done]
    folds_kept = sum(len(list(p.glob("select/folds/*/fold_*.json"))) for p in running)
    t0 = time.perf_counter()
    res = run_sweep(_config(out, "pool", epochs))
    wall = time.perf_counter() - t0
    sel = res.trials[res.trials["phase"] == "select"]
    rerun = sel[~sel["key"].isin(done)]
    return {
        "done_at_kill": len(done),
        "running_at_kill": len(running),
        "their_folds_kept": folds_kept,
        "not_done_at_kill": len(rerun),
        "read_back": int(sel["resumed"].sum()),
        "resume_wall_s": wall,
        "task_s": float(sel["seconds"].mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--skip-resume", action="store_true")
    args = ap.parse_args()
    walls: dict[str, list[float]] = {"serial": [], "pool": [], "ray": []}
    over: dict[str, list[tuple[float, float]]] = {"pool": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        for r in range(args.rounds):
            for ex in walls:
                out = root / f"{ex}-{r}"
                t0 = time.perf_counter()
                res = run_sweep(_config(out, ex, args.epochs))
                walls[ex].append(time.perf_counter() - t0)
                if ex in over:
                    over[ex].append(_overhead(res.trials))
                print(f"round {r} {ex}: {walls[ex][-1]:.1f} s", flush=True)
        ref = statistics.median(walls["serial"])
        rows = [
            {
                "executor": ex,
                "min_s": min(w),
                "median_s": statistics.median(w),
                "speedup_vs_serial": ref / statistics.median(w),
            }
            for ex, w in walls.items()
        ]
        print(f"\n16 trials (+1 test), 2 workers, {os.cpu_count()} cores, rounds={args.rounds}")
        print(pd.DataFrame(rows).set_index("executor").to_string(float_format="{:.2f}".format))
        orows = []
        for ex, vals in over.items():
            task = statistics.median(v[0] for v in vals)
            gap = statistics.median(v[1] for v in vals)
            orows.append(
                {"executor": ex, "task_s": task, "gap_s": gap, "gap_pct": 100 * gap / task}
            )
        print("\nper-task overhead (gap between tasks in one worker):")
        print(pd.DataFrame(orows).set_index("executor").to_string(float_format="{:.3f}".format))
        if not args.skip_resume:
            k = _kill_and_resume(root, args.epochs)
            print("\nresume after SIGKILL of a pool sweep (2 workers):")
            print(pd.Series(k).to_string(float_format="{:.2f}".format))


if __name__ == "__main__":
    main()
