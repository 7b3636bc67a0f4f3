"""Time added by `import bsg_async` (fresh interpreters, median of 7).

Target: <= 100 ms; the emulator and server code are not imported.
Run: python -m benchmarks.bench_import
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def run(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    bare = statistics.median(run("pass") for _ in range(7))
    sdk = statistics.median(run("import bsg_async") for _ in range(7))
    httpx_only = statistics.median(run("import httpx") for _ in range(7))
    print(
        f"python -c pass: {bare * 1000:.0f} ms; import httpx: {(httpx_only - bare) * 1000:.0f} ms;"
        f" import bsg_async: {(sdk - bare) * 1000:.0f} ms (target <= 100 ms)"
    )


if __name__ == "__main__":
    main()
