"""Walking distances equal networkx Dijkstra on the same graph; circles follow the network, not a hull;
unreachable stations are left out; coverage adds up."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from data.demo_city import build_city
from gis.reach.network import StationReach, build_graph
from gis.reach.service_area import circle, walk_to_nearest


@pytest.fixture(scope="module")
def city():
    return build_city("small", seed=3)


@pytest.fixture(scope="module")
def graph(city):
    return build_graph(city.streets.geometry.values)


def to_nx(g):
    G = nx.Graph()
    for u, v, w in zip(g.edge_u, g.edge_v, g.edge_len):
        if u != v and (not G.has_edge(u, v) or G[u][v]["weight"] > w):
            G.add_edge(int(u), int(v), weight=float(w))
    return G


def test_distances_equal_networkx(graph):
    G = to_nx(graph)
    rng = np.random.default_rng(0)
    for src in rng.choice(graph.n, 5, replace=False):
        ours = graph.distances_from(int(src), 600.0)
        theirs = nx.single_source_dijkstra_path_length(G, int(src), cutoff=600.0)
        reached = set(np.flatnonzero(np.isfinite(ours)).tolist())
        assert reached == set(theirs)
        for node, d in theirs.items():
            assert abs(ours[node] - d) < 1e-6


def test_nearest_stations_match_networkx(city, graph):
    st = city.stations
    reach = StationReach.build(graph, st.geometry.x.values, st.geometry.y.values, k_max=3, limit_m=1500)
    G = to_nx(graph)
    rng = np.random.default_rng(1)
    pts = city.addresses.geometry.values[rng.choice(len(city.addresses), 30, replace=False)]
    idx, dist = reach.nearest(shapely.get_x(pts), shapely.get_y(pts), 3)
    node, snap = graph.snap(shapely.get_x(pts), shapely.get_y(pts))
    for p in range(len(pts)):
        lengths = nx.single_source_dijkstra_path_length(G, int(node[p]), cutoff=1500)
        expect = sorted((lengths[int(reach.station_node[s])] + reach.station_snap[s] + snap[p], s)
                        for s in range(len(st)) if int(reach.station_node[s]) in lengths
                        and lengths[int(reach.station_node[s])] + reach.station_snap[s] <= 1500)[:3]
        assert np.allclose(dist[p][: len(expect)], [e[0] for e in expect])
    # the all-at-once walk to the nearest station agrees with the per-point table
    all_at_once = walk_to_nearest(graph, reach.station_node, reach.station_snap, node, snap, 1500)
    assert np.allclose(all_at_once, dist[:, 0])


def test_unreachable_station_is_left_out():
    # two separate streets: the station on the other one cannot be reached on foot
    a = [shapely.LineString([(117.0, 36.6), (117.001, 36.6)]), shapely.LineString([(117.001, 36.6), (117.002, 36.6)])]
    b = [shapely.LineString([(117.0, 36.602), (117.002, 36.602)])]
    g = build_graph(np.array(a + b, dtype=object))
    reach = StationReach.build(g, [117.002, 117.0], [36.6, 36.602], k_max=2, limit_m=5000)
    idx, dist = reach.nearest([117.0001], [36.6], 2)
    assert idx[0].tolist() == [0, -1] and np.isinf(dist[0][1])
    assert 150 < dist[0][0] < 200


def test_circle_follows_the_network_not_a_hull():
    # a U-shaped street around a 400 m wide park: the park's middle is not within reach on foot
    k = 1 / 111_320
    pts = [(0, 0), (0, 600), (400, 600), (400, 0)]
    lines = [shapely.LineString([(117 + x1 * k, 36.6 + y1 * k), (117 + x2 * k, 36.6 + y2 * k)])
             for (x1, y1), (x2, y2) in zip(pts, pts[1:])]
    g = build_graph(np.array(lines, dtype=object))
    poly = circle(g, 117.0, 36.6, 900.0, margin_m=30)
    assert poly.contains(shapely.Point(117 + 0 * k, 36.6 + 300 * k))          # on the street
    assert poly.contains(shapely.Point(117 + 300 * k, 36.6 + 600 * k))        # reached part of the top
    assert not poly.contains(shapely.Point(117 + 200 * k, 36.6 + 300 * k))    # the park
    assert not poly.contains(shapely.Point(117 + 400 * k, 36.6 + 300 * k))    # beyond 900 m
    assert poly.area < shapely.convex_hull(poly).area * 0.7


def test_greedy_siting_near_exhaustive_optimum(city, graph):
    """With one station, greedy siting of 2 more is within (1 - 1/e) of the best pair (exhaustive)."""
    import itertools

    from gis.locate.engine import LocateEngine
    from gis.reach.service_area import household_walks, propose_sites, reach_m
    from gis.locate.engine import Stations

    st = city.stations.iloc[:1]
    stations = Stations(np.array([1]), np.array(["s"], dtype=object), np.array(["red_post"], dtype=object),
                        st.geometry.x.values, st.geometry.y.values)
    reach = StationReach.build(graph, stations.lon, stations.lat, limit_m=3000)
    loc = LocateEngine(None, {}, {}, stations, reach, 1.0)
    a = city.addresses
    x, y, hh = a.geometry.x.values, a.geometry.y.values, a["households"].values.astype(float)
    minutes = 5
    sites = propose_sites(loc, x, y, hh, 2, minutes, 1.0, max_candidates=60, seed=1)
    assert len(sites) == 2 and sites[0]["added_households"] >= sites[1]["added_households"] > 0
    # exhaustive over the same candidates
    limit = reach_m(minutes, 1.0)
    walk = household_walks(loc, x, y)
    unc = walk > limit
    cand = np.sort(np.random.default_rng(1).choice(np.flatnonzero(unc & (hh > 0)), 60, replace=False))
    node, snap = graph.snap(x, y)
    covers = []
    for c in cand:
        d = graph.distances_from(int(node[c]), limit)
        covers.append(unc & (d[node] + snap[c] + snap <= limit))
    best = max(hh[a | b].sum() for a, b in itertools.combinations(covers, 2))
    greedy = sites[0]["added_households"] + sites[1]["added_households"]
    assert greedy >= (1 - 1 / np.e) * best and greedy <= best + 1e-9


def test_snap_counts_towards_the_reach_limit():
    # one 200 m street with a station at its east end; the limit is 1000 m of walking in all
    k = 1 / 111_320
    g = build_graph(np.array([shapely.LineString([(117.0, 36.6), (117.0 + 200 * k / np.cos(np.radians(36.6)), 36.6)])],
                             dtype=object))
    east = 117.0 + 200 * k / np.cos(np.radians(36.6))
    reach = StationReach.build(g, [east], [36.6], k_max=1, limit_m=1000)
    # 700 m south of the west end: 700 snap + 200 network = 900 m, reachable
    idx, dist = reach.nearest([117.0], [36.6 - 700 * k], 1)
    assert idx[0].tolist() == [0] and 890 < dist[0][0] < 910
    # 900 m south: 900 + 200 = 1100 m > 1000: left out, not guessed
    idx, dist = reach.nearest([117.0], [36.6 - 900 * k], 1)
    assert idx[0].tolist() == [-1] and np.isinf(dist[0][0])
    assert reach.why_none(117.0, 36.6 - 900 * k) == "no station within 1000 m of walking from here on the network"
    # 13 km away: the snap alone is beyond the limit, and the reason says how far the network is
    idx, dist = reach.nearest([117.0], [36.6 - 13_000 * k], 1)
    assert idx[0].tolist() == [-1]
    assert reach.why_none(117.0, 36.6 - 13_000 * k) == (
        "no station within 1000 m of walking; the nearest walkable path is 13,000 m away")
    # the all-at-once walk used by coverage agrees: beyond the limit is inf
    node, snap = g.snap([117.0, 117.0, 117.0], [36.6 - 700 * k, 36.6 - 900 * k, 36.6 - 13_000 * k])
    walk = walk_to_nearest(g, reach.station_node, reach.station_snap, node, snap, 1000)
    assert 890 < walk[0] < 910 and np.isinf(walk[1]) and np.isinf(walk[2])


def test_station_snap_counts_too():
    # the station stands 300 m off the street's east end: 200 m + 300 m = 500 m > a 400 m limit
    k = 1 / 111_320
    east = 117.0 + 200 * k / np.cos(np.radians(36.6))
    g = build_graph(np.array([shapely.LineString([(117.0, 36.6), (east, 36.6)])], dtype=object))
    reach = StationReach.build(g, [east], [36.6 + 300 * k], k_max=1, limit_m=400)
    idx, _ = reach.nearest([117.0], [36.6], 1)
    assert idx[0].tolist() == [-1]
    idx, dist = StationReach.build(g, [east], [36.6 + 300 * k], k_max=1, limit_m=600).nearest([117.0], [36.6], 1)
    assert idx[0].tolist() == [0] and 495 < dist[0][0] < 505
