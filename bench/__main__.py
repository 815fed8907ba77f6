"""python -m bench [NAME ...] [--quick]: run the CPU benchmarks, each in its own process, then the report.

Default: train, infer and generator (quality trains models for an hour or more: run it alone).
"""

import subprocess
import sys

from bench.common import ROOT

BENCHMARKS = ("train", "infer", "generator")


def main(argv: list[str]) -> int:
    quick = [a for a in argv if a == "--quick"]
    names = [a for a in argv if a != "--quick"] or list(BENCHMARKS)
    failed = []
    for name in names:
        print(f"== bench.{name} {' '.join(quick)}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}", *quick], cwd=ROOT).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0 if quick else subprocess.run([sys.executable, "-m", "bench.report"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
