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
    db_connect_timeout_s: int = Field(3, description="give up connecting to the database after this long (then 503)")
    db_pool_timeout_s: float = Field(5.0, description="wait at most this long for a pooled connection (then 503)")
    tile_cache_mb: float = Field(2048.0, ge=0, description="vector tiles kept on disk under $WANGGE_HOME/tiles, "
                                                           "oldest generations evicted beyond this; 0 = no cache")
    tile_active_max_age_s: int = Field(300, ge=0, description="how long clients may keep a tile of 'the active "
                                                              "generation' (a tile of generation=N is immutable)")
    # Limits checked before work (api/limits.py, gis/importers/common.py)
    max_body_mb: float = Field(16.0, gt=0, description="largest JSON (non-multipart) request body; more: 413")
    max_upload_mb: float = Field(64.0, gt=0, description="largest multipart upload; more: 413")
    max_unzipped_mb: float = Field(256.0, gt=0, description="largest total uncompressed size of a zipped upload")
    open311_max_body_kb: float = Field(64.0, gt=0, description="largest Open311 POST body (read by the key gate "
                                       "for its api_key field); more: 413")
    max_zip_members: int = Field(100, gt=0, description="most files in a zipped upload")
    key_failures_max: int = Field(10, gt=0, description="wrong API keys one client (IP) may send per minute; "
                                                       "then 429 for key_block_s")
    key_block_s: float = Field(60.0, gt=0, description="how long a client that sent too many wrong keys waits")
    key_cache_s: float = Field(30.0, ge=0, description="a key's role is cached this long (a revoked key stops "
                                                       "working within this time)")
    trim_after_mb: float = Field(32.0, ge=0, description="when a request leaves a worker this many MB above its "
                                                         "size after the last trim, give freed heap back to the "
                                                         "OS (glibc malloc_trim); 0 = never")
    # Field work (gis/field): visits, rounds, flags and the personal data they hold (PIPL)
    visit_skew_s: float = Field(300.0, ge=0, description="a visit's time may be this far ahead of the server's "
                                                         "clock (phones drift); further in the future: 422")
    round_weeks: int = Field(2, ge=1, le=52, description="a unit not visited for this many weeks is listed as "
                                                        "not visited in the coverage of rounds")
    field_retention_days: int = Field(730, ge=1, description="visits, settled pledges and flags older than this "
                                                             "are deleted by `wangge purge` (PIPL: kept for a set time)")
    pii_log_retention_days: int = Field(1095, ge=1, description="staff reads of personal data are logged and "
                                                                "the log kept this long")
    board_names: bool = Field(False, description="public boards and service stars name people (the city's "
                                                 "choice); off: stars show rank and flags only")
    # Xi'an 80 / Beijing 54 files (gis/importers/datums.py): refused unless the city sets its transformation
    xian80_towgs84: str | None = Field(None, description="Xi'an 80 -> CGCS2000, 7 (or 3) Helmert parameters "
                                       "dx,dy,dz,rx,ry,rz,ds (m, arc-seconds, ppm, position vector)")
    xian80_four_params: str | None = Field(None, description="Xi'an 80 Gauss-Krueger -> CGCS2000 same zone, "
                                           "dE,dN,rotation,scale (m, arc-seconds, ppm)")
    beijing54_towgs84: str | None = Field(None, description="Beijing 54 -> CGCS2000, as xian80_towgs84")
    beijing54_four_params: str | None = Field(None, description="Beijing 54 -> CGCS2000, as xian80_four_params")

    @field_validator("xian80_towgs84", "beijing54_towgs84", "xian80_four_params", "beijing54_four_params")
    @classmethod
    def _datum_params(cls, v, info):
        """Well-formed transformation parameters, checked at start-up rather than at the first import."""
        from gis.importers.datums import parse_params
        counts = (4,) if info.field_name.endswith("four_params") else (3, 7)
        parse_params(v, counts, f"WANGGE_{info.field_name.upper()}")
        return v

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
        """The home directory as an absolute path (~ expanded)."""
        return self.home.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (WANGGE_*)."""
    return Settings()
