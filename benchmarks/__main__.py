"""Every benchmark, one after another, each in its own process (so that none inherits another's warm
caches or compiled code). Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks            # all
    GENVIZ_DATA_DIR=../shared/data python -m benchmarks cold_start memory

Each prints its table and writes its JSON under benchmarks/results/. Run nothing else on the machine
meanwhile: the figures are wall-clock times.
"""

import subprocess
import sys
import time

BENCHMARKS = (
    "train_throughput",
    "distributed",
    "latent_map",
    "map_speed",
    "map_open",
    "map_render",
    "slider_latency",
    "cold_start",
    "memory",
    "load",
    "live_decode",
    "upload_prep",
    "bring",
    "site",
)


def main(names: list[str]) -> int:
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmarks: {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or BENCHMARKS:
        print(f"\n## {name}\n", flush=True)
        start = time.perf_counter()
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode != 0:
            failed.append(name)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
