"""Earlier maps through OGC: `generation=N` and `datetime=` (the generation active then) answer the
map as it was after a newer generation became active; the collection's extent follows."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from shapely.geometry import box

from tests.areas_factory import write_generation


def test_generation_and_datetime_answer_earlier_maps(demo):
    c, engine, report, _ = demo
    old = report["generation"]
    old_codes = [f["id"] for f in c.get("/ogc/collections/districts/items").json()["features"]]
    time.sleep(0.05)
    between = datetime.now(timezone.utc).isoformat()
    time.sleep(0.05)
    new = write_generation(engine, [("district", "990000", "新区", None, box(100, 30, 100.01, 30.01))])
    now = c.get("/ogc/collections/districts/items").json()
    assert now["generation"] == new and [f["id"] for f in now["features"]] == ["990000"]
    for params in ({"generation": old}, {"datetime": between}):
        doc = c.get("/ogc/collections/districts/items", params=params).json()
        assert doc["generation"] == old and [f["id"] for f in doc["features"]] == old_codes
        one = c.get(f"/ogc/collections/districts/items/{old_codes[0]}", params=params)
        assert one.status_code == 200 and one.json()["id"] == old_codes[0]
        meta = c.get("/ogc/collections/districts", params=params).json()
        assert meta["generation"] == old and meta["extent"]["spatial"]["bbox"][0][0] > 110
    assert c.get(f"/ogc/collections/districts/items/{old_codes[0]}").status_code == 404
    assert c.get("/ogc/collections/districts", params={"datetime": "1999-01-01T00:00:00Z"}).status_code == 400
    assert c.get("/ogc/collections/districts").json()["extent"]["spatial"]["bbox"][0][0] == 100
