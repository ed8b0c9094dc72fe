"""A sweep's workers never outlive their parent: SIGKILL of the parent (no chance to stop them)
takes them down within seconds."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.unit

PARENT = textwrap.dedent("""
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from accsim.study.sweeps import _worker_init

    def report_and_sleep(_):
        os.write(1, f"{os.getpid()}\\n".encode())     # one write: two workers' lines never interleave
        time.sleep(120)

    with ProcessPoolExecutor(max_workers=2, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
        list(pool.map(report_and_sleep, range(2)))
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:          # a zombie has died: it only awaits its reaper
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to tell a zombie from a live worker")
def test_workers_exit_when_the_sweep_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    workers = [int(parent.stdout.readline()) for _ in range(2)]
    assert all(_alive(w) for w in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
