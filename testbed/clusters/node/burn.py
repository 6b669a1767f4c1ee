"""Burn a set number of CPU cores inside a pod until a file appears, then idle: the node tier's
CPU load, run as `python3 -c <this file>` in the function's image (it has python3; nothing
else to build). Standard library only, no imports from the project.

BURN_CORES (e.g. 0.09) is the CPU to use, below the container's limit, so the kernel never
throttles it and cAdvisor reads exactly that share of the limit. Each tick the process spins
until its own CPU time has caught up with BURN_CORES x the time elapsed, then sleeps: a
tick lost to a busy machine is made up in the next ones (at most a second's worth), so the
average holds under contention. When BURN_STOP_FILE (default /tmp/stop) exists it stops
burning for good; SIGTERM ends it at once (PID 1 gets no default signal handling).
"""

import os
import signal
import sys
import time

TICK = 0.1  # seconds: the CFS period, so each period sees about the same share


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cores = float(os.environ.get("BURN_CORES", "0"))
    stop = os.environ.get("BURN_STOP_FILE", "/tmp/stop")
    wall, cpu = time.monotonic(), time.process_time()
    while not os.path.exists(stop):
        owed = cores * (time.monotonic() - wall) - (time.process_time() - cpu)
        if owed > cores:  # more than a second behind: forget it rather than burn at the limit
            wall, cpu, owed = time.monotonic(), time.process_time(), 0.0
        until = time.process_time() + owed
        while time.process_time() < until:
            pass
        time.sleep(TICK)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
