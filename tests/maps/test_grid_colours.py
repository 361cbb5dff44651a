"""Grid fill colours: touching grids never share one, and every process draws the same colours."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import shapely

from maps.grids import PASTEL, touching_colours

# A 4 × 3 block of square grids (codes in shuffled order) and one grid far away.
CODES = ["G07", "G01", "G11", "G03", "G09", "G05", "G02", "G12", "G04", "G10", "G06", "G08", "G99"]


def _grids():
    xs, ys = 116.9 + 0.01 * np.arange(5), 36.6 + 0.01 * np.arange(4)  # shared edges, exactly
    boxes = [shapely.box(xs[i % 4], ys[i // 4], xs[i % 4 + 1], ys[i // 4 + 1]) for i in range(12)]
    return np.array(boxes + [shapely.box(117.5, 37.0, 117.51, 37.01)], dtype=object)


def test_touching_grids_never_share_a_colour():
    geoms = _grids()
    fill = touching_colours(CODES, geoms)
    assert len(fill) == len(CODES) and set(fill) <= set(PASTEL)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = [(i, j) for i, j in zip(a.tolist(), b.tolist()) if i < j]
    assert len(pairs) == 29  # 17 shared sides and 12 shared corners in a 4 × 3 block
    assert all(fill[i] != fill[j] for i, j in pairs)
    assert fill[-1] == PASTEL[0]  # a grid touching nothing takes the first colour


def test_many_neighbours_still_get_distinct_colours():
    hub = shapely.box(0, 0, 1, 1)  # one grid touched by 12 thin ones along its top edge
    ring = [shapely.box(i / 12, 1, (i + 1) / 12, 2) for i in range(12)]
    fill = touching_colours(["H"] + [f"R{i:02d}" for i in range(12)], np.array([hub] + ring, dtype=object))
    assert fill[0] not in fill[1:]
    assert all(f != g for f, g in zip(fill[1:], fill[2:]))


def test_same_colours_in_separate_processes():
    script = ("import json, sys; sys.path.insert(0, '.'); from tests.maps.test_grid_colours import CODES, _grids; "
              "from maps.grids import touching_colours; print(json.dumps(touching_colours(CODES, _grids())))")
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                           check=True)
        runs.append(json.loads(p.stdout))
    assert runs[0] == runs[1] == touching_colours(CODES, _grids())


def test_more_neighbours_than_palette_colours_get_generated_ones():
    clique = np.array([shapely.box(0, 0, 1 + i / 100, 1) for i in range(len(PASTEL) + 3)], dtype=object)
    fill = touching_colours([f"C{i:02d}" for i in range(len(clique))], clique)
    assert len(set(fill)) == len(clique)
    assert fill[:len(PASTEL)] == PASTEL
