"""Installed size of fleetplan's core (no extras) above an empty virtual environment.

Creates a fresh venv in a temporary folder, measures it, installs this checkout without extras
(a regular, non-editable install, with its dependencies from pip's configured index), measures
again and prints the difference. Target (issue 13): <= 100 MB. Also prints the largest
installed distributions, so a heavy dependency shows up by name.

    python benchmarks/footprint.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 100.0


def size_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        empty = size_bytes(env_dir)
        py = env_dir / "bin" / "python"
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--no-cache-dir", str(ROOT)],
            check=True,
        )
        full = size_bytes(env_dir)
        site = next((env_dir / "lib").glob("python*/site-packages"))
        parts = sorted(
            ((size_bytes(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True
        )
    above_mb = (full - empty) / 1e6
    print(f"empty venv: {empty / 1e6:.1f} MB; with fleetplan (core): {full / 1e6:.1f} MB")
    print(
        f"fleetplan core install above an empty venv: {above_mb:.1f} MB (target <= {TARGET_MB:g})"
    )
    print("largest folders in site-packages:")
    for n, name in parts[:12]:
        print(f"  {n / 1e6:7.1f} MB  {name}")
    return 0 if above_mb <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
