"""Fuzz every reader of user files with N generated inputs each (default 10,000).

Each reader runs in its own child process. Two memory figures are reported: the largest rise of
the peak resident memory during one reader call (what one hostile file can cost), and the peak
of the whole run, which also holds hypothesis' own bookkeeping of 10,000 generated inputs.
Outcomes: ``accepted`` (a valid file), ``rejected`` (the product's own error naming where the
problem is) and ``crash`` (any other exception, an empty or flooding message, or more than 5 s
on one input). The run exits 1 if any reader crashed.

    .venv/bin/python benchmarks/fuzz_readers.py [--examples 10000] [--jobs 2] [--only a,b]
        [--json reports/bench/fuzz.json] [--random]

``--random`` draws a fresh random sample instead of the reproducible (derandomized) one.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _targets() -> list:
    from _fuzz_targets_core import TARGETS as CORE
    from _fuzz_targets_formats import TARGETS as FORMATS

    return [*CORE, *FORMATS]


def _run(name: str, examples: int, seed: int | None) -> dict:
    from _fuzz import run_fuzz

    target = next(t for t in _targets() if t.name == name)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
        stats = run_fuzz(target, Path(tmp), examples=examples, seed=seed)
    return {
        "reader": name,
        "inputs": stats.inputs,
        "accepted": stats.accepted,
        "rejected": stats.rejected,
        "crashes": sum(stats.crash_kinds.values()),
        "crash_kinds": dict(stats.crash_kinds),
        "crash_examples": stats.crashes[:5],
        "seconds": round(stats.seconds, 1),
        "per_input_ms": round(1000 * stats.seconds / max(stats.inputs, 1), 1),
        "slowest_input_s": round(stats.slowest_s, 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "largest_rise_mb": round(stats.largest_rise_mb, 1),
        "largest_rise_input": stats.largest_rise_input.decode("utf-8", "replace"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per reader")
    parser.add_argument("--jobs", type=int, default=2, help="readers fuzzed at once")
    parser.add_argument("--only", default="", help="comma-separated reader names")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--random", action="store_true", help="a fresh random sample")
    args = parser.parse_args(argv)

    names = [t.name for t in _targets()]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown reader(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    seed = None if args.random else 0
    print(f"fuzzing {len(names)} readers x {args.examples:,} inputs, {args.jobs} at a time",
          flush=True)
    start = time.perf_counter()
    results: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=args.jobs, max_tasks_per_child=1) as pool:
        futures = {pool.submit(_run, n, args.examples, seed): n for n in names}
        for future in as_completed(futures):
            row = future.result()
            results[row["reader"]] = row
            print(f"  {row['reader']:<22} {row['inputs']:>7,} inputs  {row['crashes']} crashes"
                  f"  {row['seconds']:>7.1f} s  peak {row['peak_rss_mb']} MB", flush=True)
    rows = [results[n] for n in names]
    total = time.perf_counter() - start

    print()
    print("| reader | inputs | accepted | rejected (product error) | crashes | ms/input "
          "| slowest input | largest memory rise in one input | peak RSS of the run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['reader']} | {r['inputs']:,} | {r['accepted']:,} | {r['rejected']:,} "
              f"| {r['crashes']} | {r['per_input_ms']} | {r['slowest_input_s']} s "
              f"| {r['largest_rise_mb']} MB | {r['peak_rss_mb']} MB |")
    print(f"\n{sum(r['inputs'] for r in rows):,} inputs in {total:.0f} s")
    for r in rows:
        for example in r["crash_examples"]:
            print(f"CRASH {r['reader']}: {example}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"examples": args.examples, "seconds": round(total),
                                         "readers": rows}, indent=2) + "\n")
    return 1 if any(r["crashes"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
