"""The FastAPI application factory: one router per capability, state built in the lifespan."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import docs, errors, methods, middleware, openapi, unavailable  # docs: offline /docs and /redoc
from api.routers import ceiling  # /health/live, the constant route
from api.routers import (
    areas, boards, codes, exports, generations, geocode, health, hotspots, locate, maps, merges, ogc, open311,
    people, pledges, rankings, redraws, requests, roles, rounds, stars, stations, tiles, visits,
)
from gis.reach.circles import warm_in_background
from gis.command.escalation import start_escalation_sweep
from gis.command.hotspots import warm_in_background as warm_hotspots
from gis.command.rules import load_rules
from maps.assets import mount_static
from gis.store.db import get_engine
from gis.locate.cache import EngineCache
from gis.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app with every router, the error table and the static assets; state is built in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = get_engine(settings)
        app.state.engine_cache = EngineCache(app.state.engine, settings)
        app.state.key_cache = {}
        app.state.rules = load_rules(settings.request_rules)
        loc = app.state.engine_cache.get()  # build the locate index before the first request
        warm_in_background(app.state.engine, loc, settings.service_minutes, settings.walk_speed_m_s)
        warm_hotspots(loc)
        sweep = start_escalation_sweep(app.state.engine, settings.escalation_interval_s)
        yield
        sweep.stop()
        app.state.engine_cache.close()

    app = FastAPI(title="网格 Wangge", version="0.1.0", lifespan=lifespan,
                  description="Grid management: locate, areas, stations, requests, redraws, maps.",
                  docs_url=None, redoc_url=None)  # /docs and /redoc come from api.docs, offline
    errors.install(app)
    unavailable.install(app)
    openapi.install(app)
    methods.install(app)
    middleware.install(app)  # outermost: key gate and body caps before any body is read; heap trimming
    for module in (health, locate, geocode, stations, areas, generations, codes, redraws, requests, hotspots,
                   rankings, people, roles, merges, visits, pledges, rounds, stars, boards, maps, tiles, ogc, exports,
                   open311):
        app.include_router(module.router)
    app.include_router(ceiling.router)
    app.include_router(docs.router)
    mount_static(app)
    return app
