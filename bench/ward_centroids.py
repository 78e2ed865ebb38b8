"""Regenerate nlp/data/ward_centroids.csv: the centre (latitude, longitude) and area of each of
HCMC's 168 current wards, communes and special zone, keyed by the codes of nlp/data/wards.csv.

Source: the data shipped in the PyPI package `vietnamadminunits` (MIT), table `admin_units`
(columns wardLat, wardLon, wardAreaKm2). Not a runtime dependency: install it to regenerate,
`pip install vietnamadminunits==1.0.4`, then `python bench/ward_centroids.py`.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.gazetteer import load_wards  # noqa: E402

OUT = ROOT / "nlp" / "data" / "ward_centroids.csv"


def main() -> None:
    db = Path(str(resources.files("vietnamadminunits") / "data" / "dataset.db"))
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT ward, wardLat, wardLon, wardAreaKm2 FROM admin_units "
        "WHERE province = 'Thành phố Hồ Chí Minh'"
    ).fetchall()
    by_name = {name: (lat, lon, area) for name, lat, lon, area in rows}
    out = []
    missing = []
    for ward in load_wards():
        found = by_name.get(ward.full_name)
        if found is None:
            missing.append(ward.full_name)
            continue
        out.append((ward.code, f"{found[0]:.4f}", f"{found[1]:.4f}", f"{found[2]:.3f}"))
    if missing:
        raise SystemExit(f"no centre for {len(missing)} wards: {missing[:10]}")
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "latitude", "longitude", "area_km2"])
        writer.writerows(out)
    print(f"{len(out)} wards written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
