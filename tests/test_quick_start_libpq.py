"""The light start's libpq is mapped with the GIL released (services/quick/pg.py).

``ctypes.CDLL`` runs ``dlopen`` holding the GIL; libpq pulls in two dozen libraries (~25 ms), and
the console's main thread, importing Textual while the first view is read in a thread
(app/console.py), waited for all of it. Checked without timing: when ``ctypes.CDLL`` is asked for
libpq, the library must already be mapped in the process (by the C library's ``dlopen`` called as
a foreign function, which releases the GIL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import ctypes, json

def mapped():
    with open("/proc/self/maps") as fh:
        return "libpq" in fh.read()

seen = []
real = ctypes.CDLL.__init__

def init(self, name, *args, **kwargs):
    if name and "libpq" in str(name):
        seen.append(mapped())
    real(self, name, *args, **kwargs)

ctypes.CDLL.__init__ = init
assert not mapped()
from services.quick import pg
pg._libpq()
print(json.dumps(seen))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux: reads /proc/self/maps")
def test_libpq_is_mapped_before_ctypes_opens_it():
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, timeout=60)
    if run.returncode != 0 and "no libpq" in run.stderr:
        pytest.skip("no libpq on this machine")
    assert run.returncode == 0, run.stderr
    seen = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert seen, "ctypes.CDLL was not asked for libpq"
    assert seen[0] is True, "ctypes.CDLL (which holds the GIL) was the one to map libpq"
