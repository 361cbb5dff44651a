"""The load bench's users (locust, run headless by bench/load.py): one consumer key, the workload's
points, addresses and request bodies from the JSON file named by WANGGE_LOAD_DATA, and the mix named
by WANGGE_LOAD_MIX: `mixed` (locate 70 %, geocode 15 %, nearest stations 10 %, new requests 5 %),
`locate` (GET /v1/locate only) or `ceiling` (GET /health/live only). Every answer that is not 2xx is a
failure named by its status, so the bench can count errors per route and status."""
from __future__ import annotations

import json
import os
import random

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

DATA = json.loads(open(os.environ["WANGGE_LOAD_DATA"], encoding="utf-8").read())
MIX = os.environ.get("WANGGE_LOAD_MIX", "mixed")
WEIGHTS = {"mixed": {"locate": 70, "geocode": 15, "stations": 10, "request": 5},
           "locate": {"locate": 1}, "ceiling": {"ceiling": 1}}[MIX]


def _check(resp) -> None:
    """2xx is a success; anything else a failure whose message is its status (counted per status)."""
    if 200 <= resp.status_code < 300:
        resp.success()
    else:
        resp.failure(f"status {resp.status_code}")


class Client(FastHttpUser):
    """A client that sends the next request as soon as the last one is answered (closed loop)."""

    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self):
        self.rng = random.Random()
        self.headers = {"X-API-Key": DATA["key"]}
        self.points, self.addresses, self.bodies = DATA["points"], DATA["addresses"], DATA["requests"]

    def _get(self, path: str, name: str, params: dict | None = None):
        with self.client.get(path, params=params, headers=self.headers, name=name, catch_response=True) as r:
            _check(r)

    @task(WEIGHTS.get("locate", 0))
    def locate(self):
        lon, lat = self.rng.choice(self.points)
        self._get("/v1/locate", "GET /v1/locate", {"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"})

    @task(WEIGHTS.get("geocode", 0))
    def geocode(self):
        self._get("/v1/geocode", "GET /v1/geocode", {"q": self.rng.choice(self.addresses), "limit": 5})

    @task(WEIGHTS.get("stations", 0))
    def stations(self):
        lon, lat = self.rng.choice(self.points)
        self._get("/v1/stations/nearest", "GET /v1/stations/nearest",
                  {"lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "k": 3})

    @task(WEIGHTS.get("request", 0))
    def new_request(self):
        body = self.rng.choice(self.bodies)
        with self.client.post("/v1/requests", json=body, headers=self.headers, name="POST /v1/requests",
                              catch_response=True) as r:
            _check(r)

    @task(WEIGHTS.get("ceiling", 0))
    def ceiling(self):
        with self.client.get("/health/live", name="GET /health/live", catch_response=True) as r:
            _check(r)
