"""Time added by `import bsg_async` (fresh interpreters, median of 7).

Target: <= 100 ms; the emulator and server code are not imported.
Measured as installs run it, with compiled bytecode: a warm-up import writes
the ``.pyc`` files first, even where ``PYTHONDONTWRITEBYTECODE`` is set (it
would add the compiling of every module, ~25 ms, to each run).
Run: python -m benchmarks.bench_import
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return time.perf_counter() - started


def main() -> None:
    run("import bsg_async, httpx")  # writes the bytecode the timed runs load
    bare = statistics.median(run("pass") for _ in range(7))
    sdk = statistics.median(run("import bsg_async") for _ in range(7))
    httpx_only = statistics.median(run("import httpx") for _ in range(7))
    print(
        f"python -c pass: {bare * 1000:.0f} ms; import httpx: {(httpx_only - bare) * 1000:.0f} ms;"
        f" import bsg_async: {(sdk - bare) * 1000:.0f} ms (target <= 100 ms)"
    )


if __name__ == "__main__":
    main()
