"""Coverage-guided fuzzing of one reader with atheris (libFuzzer for Python).

hypothesis (``fuzz_readers.py``) generates inputs from the structure of a valid file; atheris
instead mutates bytes and keeps the mutations that reach new lines of medthreat's code, which
finds paths deep inside the readers that structural generation may not hit. It uses the same
targets as the test suite, seeded with their classic hostile files and a sample of generated
inputs, and counts outcomes the same way (product error = rejected, anything else = crash).

    pip install 'atheris>=2.3,<3'   # wheels for CPython 3.11; newer versions build with clang
    .venv/bin/python benchmarks/atheris_readers.py model-yaml --runs 10000

Exit status 1 if any input crashed the reader; crashing inputs are saved in ``--crashes``.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

try:
    import atheris
except ImportError:  # pragma: no cover - optional tool
    atheris = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reader", help="reader name, as in benchmarks/fuzz_readers.py")
    parser.add_argument("--runs", type=int, default=10_000, help="inputs to execute")
    parser.add_argument("--seeds", type=int, default=200, help="generated seed inputs")
    parser.add_argument("--crashes", type=Path, default=Path("reports/bench/atheris-crashes"))
    args = parser.parse_args(argv)
    if atheris is None:
        print("atheris is not installed: pip install 'atheris>=2.3,<3' (CPython 3.11 wheels)",
              file=sys.stderr)
        return 2

    with atheris.instrument_imports(include=["medthreat"]):
        import medthreat  # noqa: F401  (instrumented before the targets import it)
    from _fuzz import check_one, run_fuzz, special_inputs
    from _fuzz_targets_core import TARGETS as CORE
    from _fuzz_targets_formats import TARGETS as FORMATS

    targets = {t.name: t for t in [*CORE, *FORMATS]}
    if args.reader not in targets:
        parser.error(f"unknown reader {args.reader!r}; known: {', '.join(targets)}")
    target = targets[args.reader]
    work = Path(tempfile.mkdtemp(prefix=f"atheris-{target.name}-"))
    corpus = work / "corpus"
    corpus.mkdir()
    fmt = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(target.suffix, "other")
    seeds = [d for d in special_inputs(fmt) if len(d) < 100_000]
    for i, data in enumerate(seeds):
        (corpus / f"special-{i}").write_bytes(data)

    def keep(data: bytes) -> None:
        if len(data) <= 65_536:
            (corpus / f"gen-{hashlib.sha256(data).hexdigest()[:16]}").write_bytes(data)

    seeded = run_fuzz(target, work / "seed-run", examples=args.seeds, seed=0, keep=keep)
    counts = {"inputs": 0, "accepted": 0, "rejected": 0, "crash": 0}
    args.crashes.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def one_input(data: bytes) -> None:
        outcome, detail = check_one(target, data, work)
        counts["inputs"] += 1
        counts[outcome] += 1
        if outcome == "crash":
            name = hashlib.sha256(data).hexdigest()[:16]
            (args.crashes / f"{target.name}-{name}").write_bytes(data)
            print(f"CRASH {target.name}: {detail}", file=sys.stderr)

    def report() -> None:
        seconds = time.perf_counter() - start
        print(f"\n{target.name}: {counts['inputs']:,} coverage-guided inputs in {seconds:.0f} s: "
              f"{counts['accepted']:,} accepted, {counts['rejected']:,} rejected, "
              f"{counts['crash']} crashes (after {seeded.inputs} generated seed inputs, "
              f"{len(seeded.crashes)} crashes)", flush=True)

    atexit.register(report)
    atheris.Setup([sys.argv[0], f"-runs={args.runs}", "-max_len=65536", "-timeout=10",
                   "-rss_limit_mb=2048", str(corpus)], one_input)
    atheris.Fuzz()
    return 1 if counts["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
