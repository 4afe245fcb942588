"""Benchmark the growth-forecast plugin on the held-out test split (issue 11).

What runs: every method of ``plugins/growth_forecast`` on the TEST split of the shared
``lesion_measurements.csv`` (split by the fixed hash rule of
``interval_growth_forecast.data.split_of``; training and tuning never saw it), or on all of
``--csv PATH`` (any table in the same format, all treated as test data).

* Task A: each trajectory with >= 4 visits, forecast the last visit from all earlier ones.
* Task B: each trajectory with >= 5 visits, forecast the last two from the earlier ones.

Methods: the default network, the other two architectures, the int8 dynamically quantized
default, carry-forward with the naive band (the training split's empirical quantiles of the
change of ln(d + 1 mm)), and the per-lesion exponential, Gompertz and general Bertalanffy
fits.  A forecast a method refuses is replaced by carry-forward's and counted ("fb").

Columns: MAE of the diameter (mm); MAE of ln(0.52 d^3 + 1) (log-volume, mm^3, +1 for 0 mm);
coverage of the 80% band; mean pinball loss over the 10/50/90% quantiles on ln(d + 1 mm);
accuracy of the next visit's RECIST-style category (>= 20% above the nadir / >= 30% below
the first visit / between); milliseconds per case.

Targets, on both tasks (exit 1 when one is missed): the default network's MAE (mm) at most
carry-forward's and at most 0.9x the best classical fit's (exponential, Gompertz,
Bertalanffy); its 80% coverage between 75% and 85%; its pinball below the naive band's.

    python tests/benchmarks/bench_growth_forecast.py [--csv PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "plugins" / "growth_forecast"))
DATA = REPO.parent / "shared" / "data" / "tumor_growth" / "lesion_measurements.csv"

CLASSICAL_FITS = ("exponential", "gompertz", "bertalanffy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="evaluate on all of this CSV (as test data)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(1)
    from interval_growth_forecast import baselines
    from interval_growth_forecast.data import read_measurements, split_trajectories
    from interval_growth_forecast.errors import MeasurementTableError
    from interval_growth_forecast.evaluation import metrics, run_method, task_cases
    from interval_growth_forecast.forecaster import default_name, load
    from interval_growth_forecast.networks import ARCHITECTURES

    print(f"load average: {os.getloadavg()[0]:.2f} (2-core reference machine)")
    source = args.csv or DATA
    try:
        trajectories = read_measurements(source)
    except MeasurementTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    test = trajectories if args.csv else split_trajectories(trajectories)["test"]
    print(f"data: {source} ({'all of it' if args.csv else 'test split'}): "
          f"{len(test)} trajectories")
    cases = {task: task_cases(test, task) for task in ("A", "B")}
    if not cases["A"]:
        print("error: no trajectory has 4 or more visits", file=sys.stderr)
        return 2

    default = default_name()
    nets = {name: load(name) for name in ARCHITECTURES}
    methods = {f"{default} (default)": nets[default].forecast,
               f"{default} int8": nets[default].int8().forecast}
    methods.update({name: nets[name].forecast for name in ARCHITECTURES if name != default})

    def law(name):
        return lambda d, x, t: baselines.fit_all(d, x, methods=(name,))[name].predict(t)
    methods["carry-forward (naive band)"] = law("carry_forward")
    methods.update({name: law(name) for name in CLASSICAL_FITS})
    fallback = law("carry_forward")

    table: dict[str, dict[str, dict]] = {}
    for name, fn in methods.items():
        table[name] = {}
        for task, task_list in cases.items():
            t0 = time.perf_counter()
            results = run_method(task_list, fn, fallback=fallback)
            ms = 1000 * (time.perf_counter() - t0) / max(len(task_list), 1)
            table[name][task] = {**metrics(results), "ms": ms}

    def f(x, digits):
        return "-" if x is None else f"{x:.{digits}f}"
    print(f"\n{'method':<28}{'task':>5}{'n':>5}{'MAE mm':>8}{'MAE lnV':>9}{'cov80':>7}"
          f"{'pinball':>9}{'cat acc':>8}{'ms/case':>9}{'fb':>4}")
    for name, per_task in table.items():
        for task, m in per_task.items():
            print(f"{name:<28}{task:>5}{int(m['n']):>5}{f(m['mae_mm'], 2):>8}"
                  f"{f(m['mae_logvol'], 3):>9}{f(m['coverage80'], 3):>7}{f(m['pinball'], 4):>9}"
                  f"{f(m['category_acc'], 3):>8}{m['ms']:>9.2f}{int(m['fallbacks']):>4}")

    net = table[f"{default} (default)"]
    cf = table["carry-forward (naive band)"]
    failed = False
    print("\ntargets (default network:", default + ")")
    for task in ("A", "B"):
        best_fit = min(CLASSICAL_FITS, key=lambda k: table[k][task]["mae_mm"])
        checks = [
            (f"MAE {net[task]['mae_mm']:.2f} mm <= carry-forward {cf[task]['mae_mm']:.2f} mm",
             net[task]["mae_mm"] <= cf[task]["mae_mm"]),
            (f"MAE {net[task]['mae_mm']:.2f} mm <= 0.9 x best classical fit ({best_fit}) "
             f"{table[best_fit][task]['mae_mm']:.2f} mm = "
             f"{0.9 * table[best_fit][task]['mae_mm']:.2f} mm",
             net[task]["mae_mm"] <= 0.9 * table[best_fit][task]["mae_mm"]),
            (f"80% coverage {net[task]['coverage80']:.3f} in [0.75, 0.85]",
             0.75 <= net[task]["coverage80"] <= 0.85),
            (f"pinball {net[task]['pinball']:.4f} < naive band {cf[task]['pinball']:.4f}",
             net[task]["pinball"] < cf[task]["pinball"]),
        ]
        print(f"task {task}: next-visit category accuracy network "
              f"{net[task]['category_acc']:.3f}, best classical fit ({best_fit}) "
              f"{table[best_fit][task]['category_acc']:.3f}")
        for text, ok in checks:
            print(f"  {'PASS' if ok else 'FAIL'}  task {task}: {text}")
            failed |= not ok
    print("\nall targets met" if not failed else "\nsome targets were missed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
