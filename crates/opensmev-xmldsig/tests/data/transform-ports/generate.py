"""Regenerates python-port/*.out from inputs/*.xml with the Python port of danbka/smev-transform.

Run once, by hand, in a virtual environment with the package installed:

    python3 -m venv /tmp/smevt && /tmp/smevt/bin/pip install smev-transform==2.0.0
    /tmp/smevt/bin/python generate.py

The outputs are committed; the tests do not need Python.
"""

import pathlib

import smev_transform
from smev_transform import Transform

assert smev_transform.__version__ == "2.0.0", smev_transform.__version__

HERE = pathlib.Path(__file__).resolve().parent
for source in sorted((HERE / "inputs").glob("*.xml")):
    text = source.read_text(encoding="utf-8")
    out = Transform().process(text)
    target = HERE / "python-port" / (source.stem + ".out")
    target.write_bytes(out.encode("utf-8"))
    print(f"{source.name} -> {target.relative_to(HERE)} ({len(out.encode('utf-8'))} bytes)")
