"""All runtime settings in one pydantic-settings object (environment prefix WANGGE_)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings read from the environment; see CONTRACT.md for the public ones."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    database_url: str | None = Field(None, description="PostGIS URL; unset = embedded cluster")
    home: Path = Field(Path(".wangge"), description="embedded cluster and caches")
    walk_speed_m_s: float = Field(1.0, description="walking speed; ~1 m/s gives 900 m in 15 min (GB 50180-2018)")
    service_minutes: float = 15.0
    reach_limit_m: float = Field(3000.0, description="stations farther than this walk are 'not reachable'")
    nearest_stations: int = 3
    locate_batch_limit: int = 100_000
    grid_households_min: int = 300
    grid_households_max: int = 500
    unit_households_min: int = 5
    unit_households_max: int = 15
    request_rules: Path | None = Field(None, description="request menu, routing and colour table (JSON); "
                                                          "unset = data/request_rules.json")
    escalation_interval_s: float = Field(60.0, description="how often each worker sweeps for overdue requests; "
                                                           "0 = never (run `wangge requests escalate` instead)")
    hotspot_permutations: int = Field(999, description="conditional permutations for Gi* pseudo p-values")
    reverse_max_m: float = Field(250.0, gt=0, description="reverse geocoding answers no address farther than this")
    pinyin_folds: str = Field("southwest", description="the sounds this city's residents fold when typing "
                              "pinyin: a preset (none, southwest, south) or pairs like n-l,f-h,in-ing,z-zh")
    max_vertices: int = Field(200_000, gt=0, description="a redraw proposal with more vertices in all is refused (413)")

    @field_validator("pinyin_folds")
    @classmethod
    def _folds_known(cls, v: str) -> str:
        """A preset or well-formed pairs, checked at start-up rather than at the first geocode."""
        from gis.address.pinyin import FoldError, parse_folds
        try:
            parse_folds(v)
        except FoldError as e:
            raise ValueError(str(e)) from None
        return v

    @property
    def home_abs(self) -> Path:
        return self.home.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
