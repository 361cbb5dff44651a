"""The `wangge` command line: database, demo city, imports, locate, keys and the server.

Every command prints JSON on stdout with --json; errors go to stderr with a non-zero exit.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="网格 Wangge: grid management service", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="The database (embedded PostGIS unless WANGGE_DATABASE_URL is set)", no_args_is_help=True)
import_app = typer.Typer(help="Import areas, addresses, stations, people", no_args_is_help=True)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")

JsonOpt = typer.Option(False, "--json", help="print JSON on stdout")
EncodingOpt = typer.Option(None, "--encoding", help="the attribute text's encoding (UTF-8, GBK, GB18030, ...); "
                           "default: the .cpg, else UTF-8 if it decodes, else GB18030 (the report says which)")


def _out(payload, as_json: bool, human: str | None = None) -> None:
    if as_json or human is None:
        typer.echo(json.dumps(payload, ensure_ascii=False, default=str))
    else:
        typer.echo(human)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _engine():
    from gis.store.db import get_engine
    from gis.store.embedded import EmbeddedError

    try:
        return get_engine()
    except EmbeddedError as exc:
        _fail(str(exc))


# -- database -------------------------------------------------------------------------------------
@db_app.command("up")
def db_up(as_json: bool = JsonOpt):
    """Start (or reuse) the database and apply the migrations."""
    from gis.store.db import resolve_url

    _engine()
    url = resolve_url()
    _out({"url": url, "status": "up"}, as_json, f"database up: {url}")


@db_app.command("down")
def db_down(as_json: bool = JsonOpt):
    """Stop the embedded cluster (does nothing for an external WANGGE_DATABASE_URL)."""
    from gis.store import embedded
    from gis.settings import get_settings

    s = get_settings()
    if s.database_url:
        _out({"status": "external", "stopped": False}, as_json, "WANGGE_DATABASE_URL is set: nothing to stop")
        return
    stopped = embedded.down(s.home_abs)
    _out({"status": "down", "stopped": stopped}, as_json, "stopped" if stopped else "was not running")


@db_app.command("url")
def db_url(as_json: bool = JsonOpt):
    """Print the database URL in use (starting the embedded cluster if needed)."""
    from gis.store.db import resolve_url
    from gis.store.embedded import EmbeddedError

    try:
        url = resolve_url()
    except EmbeddedError as exc:
        _fail(str(exc))
    _out({"url": url}, as_json, url)


@db_app.command("backup")
def db_backup(dest: Path = typer.Argument(..., help="a new (or empty) folder for this backup"),
              as_json: bool = JsonOpt):
    """Back up the database (base backup + where its archived WAL is) into DEST, verified."""
    from gis.settings import get_settings
    from gis.store.backup import BackupError, backup
    from gis.store.embedded import EmbeddedError

    try:
        report = backup(get_settings(), dest)
    except (BackupError, EmbeddedError) as exc:
        _fail(str(exc))
    _out(report, as_json, f"backed up into {report['backup']} ({report['size_bytes'] / 1e6:.1f} MB"
                          f"{', point-in-time restores possible' if report['point_in_time'] else ''})")


@db_app.command("restore")
def db_restore(src: Path = typer.Argument(..., help="a folder written by `wangge db backup`"),
               to: Optional[str] = typer.Option(None, "--to", help="restore as of this time (ISO 8601; UTC when "
                                                                  "no offset is given); default: all archived WAL"),
               wal_archive: Optional[Path] = typer.Option(None, help="archived WAL folder (default: the one the "
                                                                     "backup names)"),
               as_json: bool = JsonOpt):
    """Restore a backup into the embedded cluster of a fresh WANGGE_HOME, as of --to, and start it."""
    from datetime import datetime

    from gis.settings import get_settings
    from gis.store.backup import BackupError, restore
    from gis.store.embedded import EmbeddedError

    when = None
    if to is not None:
        try:
            when = datetime.fromisoformat(to.strip().replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--to: {to!r} is not a time; give ISO 8601, e.g. 2026-11-23T18:30:00+08:00")
    try:
        report = restore(get_settings(), src, when, wal_archive)
    except (BackupError, EmbeddedError) as exc:
        _fail(str(exc))
    _out(report, as_json, f"restored {report['backup']} as of {report['to']} into {report['home']}")


# -- demo -----------------------------------------------------------------------------------------
@app.command()
def demo(scale: str = typer.Option("small", help="small | city"), seed: int = typer.Option(0),
         tiers: int = typer.Option(1, "--tiers", help="grid tiers: 1, 2 (大网格/小网格) or 3 "
                                                      "(网格/小区网格/楼栋网格)"),
         as_json: bool = JsonOpt):
    """Build the demo city into the database (a new generation, with staff, stations, requests); with
    --tiers 2 or 3 its grids come in tiers, units under the finest."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from data.load_demo import load_demo

    if scale not in ("small", "city"):
        _fail(f"--scale must be small or city, not {scale!r}")
    if tiers not in (1, 2, 3):
        _fail(f"--tiers must be 1, 2 or 3, not {tiers}")
    engine = _engine()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=__import__("rich.console").console.Console(stderr=True)) as bar:
        task = bar.add_task("demo city", total=1.0)

        def progress(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=fraction)

        report = load_demo(engine, scale=scale, seed=seed, progress=progress, tiers=tiers)
    human = "\n".join([f"demo city ({scale}, seed {seed}) is generation {report['generation']}:"]
                      + ([f"  grid tiers: {' > '.join(report['tiers'])}"] if tiers > 1 else [])
                      + [f"  {k}: {v}" for k, v in report["counts"].items()]
                      + [f"API key (admin): {report['keys']['admin']}",
                         f"API key (consumer): {report['keys']['consumer']}"])
    _out(report, as_json, human)


# -- grid tiers -----------------------------------------------------------------------------------
tiers_app = typer.Typer(help="The city's grid tiers (大网格/小网格 ...): list them, or set them")
app.add_typer(tiers_app, name="tiers")


def _tiers_human(rows) -> str:
    return "\n".join(f"  tier {t['tier']}: {t['name']} (+{t['digits']} digits{', nests' if t['nests'] else ''})"
                     for t in rows)


@tiers_app.callback(invoke_without_command=True)
def tiers_list(ctx: typer.Context, as_json: bool = JsonOpt):
    """The city's grid tiers, coarsest first: name, digits each adds to its parent's code, nesting."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import asdict

    from gis.store.tiers import tiers

    with _engine().connect() as conn:
        rows = [asdict(t) for t in tiers(conn)]
    _out({"tiers": rows}, as_json, _tiers_human(rows))


@tiers_app.command("set")
def tiers_set(names: list[str] = typer.Option(..., "--name", help="a tier's name, coarsest first (repeat)"),
              digits: list[int] = typer.Option(..., "--digits", help="digits the tier adds to its parent's "
                                                                      "code, one per --name (the first: 3)"),
              nests: bool = typer.Option(False, "--nests", help="every tier below the first must cover its "
                                                                "parent grid without gaps"),
              as_json: bool = JsonOpt):
    """Set the city's grid tiers, e.g. `--name 大网格 --digits 3 --name 小网格 --digits 2 --nests`;
    refused when grids of a deeper tier exist already, or, with --nests, when the active generation's
    grids leave gaps in their parent grids."""
    from dataclasses import asdict

    from gis.store.db import session_scope
    from gis.importers.grid_tiers import nesting_gaps
    from gis.store.generations import active_id, notify_data_changed
    from gis.store.tiers import TierError, set_tiers

    if len(names) != len(digits):
        _fail(f"--digits: give one per --name ({len(names)} name(s), {len(digits)} digits)")
    try:
        with session_scope(_engine()) as s:
            gen = active_id(s)
            gaps = [(t, code, gap) for t in range(2, len(names) + 1) if nests and gen is not None
                    for code, gap in nesting_gaps(s, gen, t)]
            if gaps:
                _fail(f"--nests: the active generation's grids would break it ({len(gaps)} parent grid(s) "
                      "left with gaps):\n" + "\n".join(f"  - tier-{t} grids leave {gap:,.1f} m² of parent grid "
                                                        f"{code} uncovered" for t, code, gap in gaps[:50]))
            rows = [asdict(t) for t in set_tiers(s, [(n, d, nests and i > 0)
                                                     for i, (n, d) in enumerate(zip(names, digits))])]
            notify_data_changed(s)  # running servers rebuild their engines (the tiers' names in answers)
    except TierError as exc:
        _fail(str(exc))
    _out({"tiers": rows}, as_json, "grid tiers set:\n" + _tiers_human(rows))


# -- imports --------------------------------------------------------------------------------------
def _run_import(fn, *args, as_json: bool, **kw):
    from gis.importers import ImportRefused

    try:
        report = fn(_engine(), *args, **kw)
    except ImportRefused as exc:
        _refused(exc, as_json)
    _out(report, as_json, json.dumps(report, ensure_ascii=False, indent=2))


def _refused(exc, as_json: bool) -> None:
    """An import refused: its first line and every problem (as JSON on stderr with --json); exit 1."""
    if as_json:
        typer.echo(json.dumps({"error": str(exc).splitlines()[0], "problems": exc.problems},
                              ensure_ascii=False), err=True)
        raise typer.Exit(1)
    _fail(str(exc))


@import_app.command("areas")
def import_areas(file: Path, level: str = typer.Option(..., help="district|street|community|grid|unit"),
                 code_field: Optional[str] = None, name_field: Optional[str] = None,
                 parent_field: Optional[str] = None, households_field: Optional[str] = None,
                 encoding: Optional[str] = EncodingOpt, as_json: bool = JsonOpt):
    """Import one level of areas from any OGR-readable file; creates and activates a new generation."""
    from gis.importers import import_areas as fn

    _run_import(fn, file, level, code_field=code_field, name_field=name_field, parent_field=parent_field,
                households_field=households_field, encoding=encoding, as_json=as_json)


@import_app.command("estates")
def import_estates(file: Path, code_field: Optional[str] = None, name_field: Optional[str] = None,
                   households_field: Optional[str] = None, encoding: Optional[str] = EncodingOpt,
                   as_json: bool = JsonOpt):
    """Import residential estates (小区: polygons with code, name, optional households); an estate with a
    code already stored is replaced."""
    from gis.importers.estates import import_estates as fn

    _run_import(fn, file, code_field=code_field, name_field=name_field, households_field=households_field,
                encoding=encoding, as_json=as_json)


@import_app.command("addresses")
def import_addresses(file: Path, encoding: Optional[str] = EncodingOpt, as_json: bool = JsonOpt):
    """Import the standard address registry (CSV: address,lon,lat[,crs,households,building_code])."""
    from gis.importers import import_addresses as fn

    _run_import(fn, file, encoding=encoding, as_json=as_json)


@import_app.command("stations")
def import_stations(file: Path, encoding: Optional[str] = EncodingOpt, as_json: bool = JsonOpt):
    """Import service stations (points with name and kind)."""
    from gis.importers import import_stations as fn

    _run_import(fn, file, encoding=encoding, as_json=as_json)


@import_app.command("osm")
def import_osm(file: Path, encoding: Optional[str] = typer.Option(
        None, "--encoding", help="OSM PBF text is always UTF-8; any other value is refused"),
        as_json: bool = JsonOpt):
    """Import the walking network, buildings with addresses and POIs from an OSM PBF extract."""
    from gis.importers import import_osm as fn
    from gis.importers.encoding import EncodingError, canonical

    if encoding is not None:
        try:
            said = canonical(encoding)
        except EncodingError as exc:
            _fail(str(exc))
        if said != "UTF-8":
            _fail(f"--encoding: an OSM PBF file is always UTF-8, not {said}")
    _run_import(fn, file, as_json=as_json)


@import_app.command("visits")
def import_visits_cmd(file: Path, as_json: bool = JsonOpt):
    """Visits from a UTF-8 CSV (person_id, lon, lat, at; optional kind, crs, units, households, found,
    category, idempotency_key); a bad line refuses the file with every bad line listed."""
    from datetime import datetime, timezone

    from gis.command.loop import Actor
    from gis.command.rules import load_rules
    from gis.field.imports import import_visits
    from gis.importers import ImportRefused
    from gis.settings import get_settings
    from gis.store.db import session_scope

    if not file.is_file():
        _fail(f"FILE: {file.name} is not a readable file")
    settings = get_settings()
    _db, loc, _settings = _locator()
    try:
        with session_scope(_engine()) as s:
            report = import_visits(s, load_rules(settings.request_rules), loc, file.read_bytes(), Actor("cli"),
                                   datetime.now(timezone.utc), settings.visit_skew_s)
    except ImportRefused as exc:
        _refused(exc, as_json)
    _out(report, as_json, f"imported {report['visits']} visit(s); {report['already_on_record']} already on record")


@app.command()
def purge(as_json: bool = JsonOpt):
    """Delete personal data past its retention (PIPL): visits, settled pledges and flags older than
    WANGGE_FIELD_RETENTION_DAYS, staff-read log rows older than WANGGE_PII_LOG_RETENTION_DAYS."""
    from datetime import datetime, timezone

    from gis.field.pii import purge as run
    from gis.settings import get_settings
    from gis.store.db import session_scope

    settings = get_settings()
    with session_scope(_engine()) as s:
        report = run(s, datetime.now(timezone.utc), settings.field_retention_days, settings.pii_log_retention_days)
    _out(report, as_json, json.dumps(report, ensure_ascii=False, indent=2))


@import_app.command("people")
def import_people(file: Path, encoding: Optional[str] = EncodingOpt, as_json: bool = JsonOpt):
    """Import people and their assignments (CSV: name,phone,organisation,role,level,area_code)."""
    from gis.importers.people import import_people as fn

    _run_import(fn, file, encoding=encoding, as_json=as_json)


# -- roles ----------------------------------------------------------------------------------------
roles_app = typer.Typer(help="The roles people hold for areas (the city adds its own)", no_args_is_help=True)
app.add_typer(roles_app, name="roles")


@roles_app.command("list")
def roles_list(as_json: bool = JsonOpt):
    """Every role: code, name, whether it roams, builtin, how many hold it."""
    from gis.store import people

    with _engine().connect() as conn:
        rows = people.roles(conn)
    human = "\n".join(f"{r['code']:<24} {r['name']}{'  (roams)' if r['roams'] else ''}"
                      f"{'  builtin' if r['builtin'] else ''}  {r['assignments']} assigned" for r in rows)
    _out({"roles": rows}, as_json, human)


@roles_app.command("add")
def roles_add(code: str, name: str, roams: bool = typer.Option(False, "--roams", help="walks the whole area"),
              as_json: bool = JsonOpt):
    """Add a role the city uses (code: lowercase letters, digits, underscore; at most 32)."""
    from gis.store import people
    from gis.store.db import session_scope

    try:
        with session_scope(_engine()) as s:
            row = people.add_role(s, code, name, roams)
    except people.PeopleError as exc:
        _fail(str(exc))
    _out(row, as_json, f"role {row['code']} ({row['name']}) added")


@roles_app.command("delete")
def roles_delete(code: str, as_json: bool = JsonOpt):
    """Remove a role the city added and nobody holds (builtins stay)."""
    from gis.store import people
    from gis.store.db import session_scope

    try:
        with session_scope(_engine()) as s:
            people.delete_role(s, code)
    except people.PeopleError as exc:
        _fail(str(exc))
    _out({"code": code, "deleted": True}, as_json, f"role {code} deleted")


# -- export ---------------------------------------------------------------------------------------
@app.command("export")
def export_level(level: str = typer.Argument(..., help="district|street|community|grid|unit"),
                 output: Path = typer.Option(..., "-o", "--output", help="FILE.gpkg, FILE.geojson or FILE.shp.zip"),
                 crs: Optional[str] = typer.Option(None, help="wgs84 (default), cgcs2000, EPSG:3857 or EPSG:n "
                                                             "(e.g. a CGCS2000 Gauss-Krueger zone, EPSG:4527)"),
                 generation: Optional[int] = typer.Option(None, help="default: the active generation"),
                 parent: Optional[str] = typer.Option(None, help="only the areas under this code"),
                 as_json: bool = JsonOpt):
    """Export one level of the map as GeoPackage, GeoJSON or zipped Shapefile (by the file's suffix)."""
    from gis.importers.export import ExportError, export
    from gis.store.db import session_scope

    engine = _engine()
    try:
        with session_scope(engine) as session:
            done = export(session, level, output, crs, generation, parent, drafts=True)
    except ExportError as exc:
        _fail(str(exc))
    except OSError:
        _fail(f"-o: cannot write {output}")
    _out(done.report(), as_json, f"{done.features} {level} areas of generation {done.generation} -> {done.file} "
                                 f"({done.format}, {done.crs})")


# -- locate ---------------------------------------------------------------------------------------
def _locator(required: bool = True):
    """(engine, the active generation's locate engine, settings); with `required`, refuses when no
    generation is active yet."""
    from gis.store.db import session_scope
    from gis.store.generations import active_id
    from gis.locate.engine import build_engine
    from gis.settings import get_settings

    engine = _engine()
    s = get_settings()
    with session_scope(engine) as sess:
        gen = active_id(sess)
    if gen is None and required:
        _fail("there is no active generation: run `wangge demo` or `wangge import areas` first")
    return engine, build_engine(engine, gen, s.walk_speed_m_s, s.reach_limit_m), s


@app.command()
def locate(lon: Optional[float] = typer.Argument(None), lat: Optional[float] = typer.Argument(None),
           crs: str = typer.Option("wgs84", help="wgs84 (EPSG:4326, CRS84) | cgcs2000 (EPSG:4490) | gcj02 | bd09; "
                                                  "always LON LAT"),
           file: Optional[Path] = typer.Option(None, "--file", help="CSV with columns id,lon,lat"),
           as_json: bool = JsonOpt):
    """Which district, street, community, grid and unit answer for a point (the API's JSON)."""
    import numpy as np

    from gis.coords import CrsError, normalize_crs, to_wgs84

    try:
        crs = normalize_crs(crs, "--crs")
    except CrsError as exc:
        _fail(str(exc))
    if file is None and (lon is None or lat is None):
        _fail("give LON LAT, or --file POINTS.csv")
    _db, locator, settings = _locator(required=False)
    gen = locator.generation
    if file is not None:
        ids, xs, ys = [], [], []
        try:
            with open(file, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                missing = {"id", "lon", "lat"} - set(reader.fieldnames or [])
                if missing:
                    _fail(f"{file}: missing column(s) {', '.join(sorted(missing))}")
                for line, row in enumerate(reader, start=2):
                    try:
                        x, y = float(row["lon"]), float(row["lat"])
                    except (TypeError, ValueError):
                        _fail(f"{file}:{line}: lon/lat are not numbers: {row['lon']!r}, {row['lat']!r}")
                    if not (np.isfinite(x) and np.isfinite(y) and abs(x) <= 180 and abs(y) <= 90):
                        _fail(f"{file}:{line}: lon/lat out of range: {x}, {y}")
                    ids.append(row["id"])
                    xs.append(x)
                    ys.append(y)
        except OSError as exc:
            _fail(f"cannot read {file}: {exc}")
        x, y = to_wgs84(np.array(xs), np.array(ys), crs)
        codes = locator.locate_codes(x, y)
        from gis.store.models import LEVELS
        paths = locator.grid_paths(x, y)
        results = [{"id": i, **{lvl: codes.get(lvl, [None] * len(ids))[k] for lvl in LEVELS},
                    "grid_path": paths[k]} for k, i in enumerate(ids)]
        _out({"generation": gen, "results": results}, True)
        return
    if not (np.isfinite(lon) and abs(lon) <= 180):
        _fail(f"lon: {lon} is out of range -180..180")
    if not (np.isfinite(lat) and abs(lat) <= 90):
        _fail(f"lat: {lat} is out of range -90..90")
    x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
    _out(locator.answer_one(float(x[0]), float(y[0]), settings.nearest_stations), True)


@app.command()
def geocode(query: str, limit: int = typer.Option(5, min=1, max=20), as_json: bool = JsonOpt):
    """Registry addresses for free text, best first, with score, level and whether it is confident."""
    from gis.address.geocode import load_geocoder

    engine, locator, _s = _locator(required=False)
    answer = load_geocoder(engine, locator).geocode(query, limit)
    human = "\n".join([f"{'confident' if answer['confident'] else 'not confident'}: {query}"] +
                       [f"  {c['score']:.2f} {c['level']:9s} {c['address']} ({c['lon']:.6f}, {c['lat']:.6f}) "
                        f"grid {c['grid']}" for c in answer["candidates"]])
    _out(answer, as_json, human)


# -- service reach --------------------------------------------------------------------------------
@app.command()
def coverage(level: str = typer.Option("community", help="street | community | grid | unit"),
             as_json: bool = JsonOpt):
    """Households within 5, 10 and 15 minutes' walk of a station, per area."""
    from gis.store.models import LEVELS
    from gis.reach.service_area import coverage_report

    if level not in LEVELS:
        _fail(f"--level: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    engine, loc, s = _locator(required=False)
    gen = loc.generation
    if loc.reach is None or level not in loc.levels:
        _fail("coverage needs areas, a walking network and stations: run `wangge demo` or import them")
    report = coverage_report(loc, engine, level, s.walk_speed_m_s)
    lines = [f"{level} coverage at {s.walk_speed_m_s} m/s, generation {gen}: "
             + ", ".join(f"{m} min {report[f'share_{m}_min']:.1%}" for m in report["thresholds_min"])]
    lines += [f"  {r['code']} {r['name']}: {r['households']} households, 15 min {r['share_15_min'] or 0:.1%}"
              for r in report["areas"]]
    _out(report, as_json, "\n".join(lines))


# -- command center -------------------------------------------------------------------------------
requests_app = typer.Typer(help="The request loop", no_args_is_help=True)
app.add_typer(requests_app, name="requests")


def _when(value: Optional[str], name: str):
    from datetime import datetime

    from gis.command.periods import TZ

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--{name}: {value!r} is not an ISO date or time (e.g. 2026-10-01 or 2026-10-01T08:00)")
    return t if t.tzinfo else t.replace(tzinfo=TZ)


@requests_app.command("escalate")
def requests_escalate(as_json: bool = JsonOpt):
    """Raise every open request past its deadline to the street now (the server does this every minute)."""
    from gis.store.db import session_scope
    from gis.command.loop import escalate_overdue

    with session_scope(_engine()) as s:
        ids = escalate_overdue(s)
    _out({"escalated": ids}, as_json, f"escalated {len(ids)} overdue request(s)")


@app.command()
def hotspots(days: float = typer.Option(30, help="window length, ending at --end"),
             start: Optional[str] = typer.Option(None, help="ISO date/time (China Standard Time if no zone)"),
             end: Optional[str] = typer.Option(None, help="default: just after the newest request"),
             category: Optional[str] = typer.Option(None), unit: str = typer.Option("grid", help="grid | h3"),
             resolution: int = typer.Option(8, help="H3 resolution (unit h3)"), top: int = typer.Option(10),
             as_json: bool = JsonOpt):
    """Getis-Ord Gi* hotspots of requests (FDR classes, trend against the window before)."""
    from gis.command import hotspots as hs
    from gis.command.periods import request_window

    engine, loc, s = _locator()
    try:
        with engine.connect() as conn:
            a, b, prev = request_window(conn, _when(start, "start"), _when(end, "end"), days)
            out = hs.hotspots(conn, loc, a, b, prev, category, unit, resolution, s.hotspot_permutations)
    except ValueError as exc:
        _fail(str(exc))
    lines = [f"{out['total']} requests {a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M} (before: {out['previous_total']}); "
             + ", ".join(f"{k} {v}" for k, v in out["summary"].items() if v)]
    lines += [f"  {r['class']:7s} z {r['z']:6.2f} {r['code']} {r['name'] or ''}: {r['count']} ({r['trend']})"
              for r in out["areas"][:top]]
    _out(out, as_json, "\n".join(lines))


@app.command()
def rankings(month: Optional[str] = typer.Option(None, help="YYYY-MM; default: the last complete month"),
             as_json: bool = JsonOpt):
    """The monthly grid scoreboard with the two lowest named."""
    from datetime import datetime

    from gis.command.rankings import scoreboard
    from gis.command.periods import TZ, WindowError, month_window

    engine, loc, _s = _locator()
    try:
        a, b = month_window(month, previous=True)
    except WindowError as exc:
        _fail(str(exc))
    with engine.connect() as conn:
        out = scoreboard(conn, loc, a, b, as_of=datetime.now(TZ))
    low = ", ".join(f"{r['name']} ({r['code']}, {r['score']})" for r in out["lowest"])
    _out(out, as_json, f"{out['month']}: {out['ranked']} grids ranked; lowest: {low or 'none'}; "
                       f"reported upward: {', '.join(out.get('reported_upward', [])) or 'none'}")


@app.command("map")
def map_page(name: str = typer.Argument(..., help="grids | coverage | heatmap | hotspots | overdue | ranking"),
             output: Path = typer.Option(..., "-o", "--output", help="the HTML file to write"),
             days: float = typer.Option(30), start: Optional[str] = typer.Option(None),
             end: Optional[str] = typer.Option(None), category: Optional[str] = typer.Option(None),
             month: Optional[str] = typer.Option(None), minutes: float = typer.Option(15.0),
             level: str = typer.Option("community"),
             step: str = typer.Option("day", help="heatmap frames: hour | day | week")):
    """Write a map page as one standalone HTML file: every script, style and font inside it, so it
    opens from disk with no server and no internet."""
    from gis.command.periods import WindowError
    from maps.assets import inline
    from maps.pages import PAGES, PageError

    if name not in PAGES:
        _fail(f"unknown map {name!r}; choose one of {', '.join(PAGES)}")
    engine, loc, s = _locator()
    try:
        html = PAGES[name](engine, loc, s, start=_when(start, "start"), end=_when(end, "end"), days=days,
                           category=category, month=month, minutes=minutes, level=level, step=step)
    except (PageError, WindowError, ValueError) as exc:
        _fail(str(exc))
    try:
        output.write_text(inline(html), encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")
    typer.echo(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


# -- redraws -------------------------------------------------------------------------------------
redraw_app = typer.Typer(help="Planner redraws: propose from a file, commit", no_args_is_help=True)
app.add_typer(redraw_app, name="redraw")


@redraw_app.command("propose")
def redraw_propose(file: Path, level: str = typer.Option("grid", help="grid | unit | community | street"),
                   parent: str = typer.Option(..., help="the code of the parent whose children FILE replaces"),
                   code_field: Optional[str] = typer.Option(None), name_field: Optional[str] = typer.Option(None),
                   as_json: bool = JsonOpt):
    """Check new boundaries from FILE (GeoJSON, GeoPackage, Shapefile; any declared CRS): findings,
    impact, and a draft generation when valid (commit it with `wangge redraw commit ID`)."""
    from gis.redraw import propose
    from gis.redraw import asked
    from gis.store.db import session_scope
    from gis.settings import get_settings

    s = get_settings()
    ranges = {"grid": (s.grid_households_min, s.grid_households_max),
              "unit": (s.unit_households_min, s.unit_households_max)}
    engine = _engine()
    try:
        p = asked.from_file(file, level, parent, code_field, name_field)
        with session_scope(engine) as session:
            out = propose.propose(session, p, "cli", ranges)
    except propose.RedrawError as exc:
        _fail(str(exc))
    lines = [f"redraw {out['id']}: {'valid' if out['valid'] else 'NOT valid'}"
             + (f", draft generation {out['draft_generation']}" if out["draft_generation"] else "")]
    lines += [f"  {f['severity']} {f['kind']}: {f['message']}" for f in out["findings"]]
    lines.append(f"  moves {out['impact']['buildings_moved']} buildings, {out['impact']['households_moved']} households")
    _out(out, as_json, "\n".join(lines))
    if not out["valid"]:
        raise typer.Exit(3)


def _propose_asked(make, *args, as_json: bool, **kw) -> None:
    """Make a proposal from the record (automatic, split), check and store it, and print the report."""
    from gis.redraw import propose
    from gis.store.db import session_scope
    from gis.settings import get_settings

    s = get_settings()
    ranges = {"grid": (s.grid_households_min, s.grid_households_max),
              "unit": (s.unit_households_min, s.unit_households_max)}
    try:
        with session_scope(_engine()) as session:
            out = propose.propose(session, make(session, *args, **kw), "cli", ranges)
    except propose.RedrawError as exc:
        _fail(str(exc))
    lines = [f"redraw {out['id']}: {'valid' if out['valid'] else 'NOT valid'}"
             + (f", draft generation {out['draft_generation']}" if out["draft_generation"] else "")]
    lines += [f"  {f['severity']} {f['kind']}: {f['message']}" for f in out["findings"]]
    _out(out, as_json, "\n".join(lines))
    if not out["valid"]:
        raise typer.Exit(3)


@redraw_app.command("auto")
def redraw_auto(parent: str = typer.Argument(..., help="a community (its grids) or a grid (the next tier's)"),
                k: Optional[int] = typer.Option(None, help="how many grids (default: by the households target)"),
                seed: int = typer.Option(0), split_estates: bool = typer.Option(
                    False, "--split-estates", help="allow grid boundaries through estates (小区)"),
                as_json: bool = JsonOpt):
    """Propose an automatic redraw of the grids under PARENT: balanced, contiguous, each estate whole."""
    from gis.redraw import asked
    from gis.settings import get_settings

    s = get_settings()
    _propose_asked(asked.auto, parent, k, (s.grid_households_min, s.grid_households_max), 0.10, seed,
                   split_estates=split_estates, as_json=as_json)


@redraw_app.command("split")
def redraw_split(grid: str, parts: int = typer.Option(2), seed: int = typer.Option(0),
                 split_estates: bool = typer.Option(False, "--split-estates",
                                                    help="allow grid boundaries through estates (小区)"),
                 as_json: bool = JsonOpt):
    """Propose splitting GRID into PARTS balanced grids, each estate whole."""
    from gis.redraw import asked

    _propose_asked(asked.split, grid, parts, 0.10, seed, split_estates=split_estates, as_json=as_json)


@redraw_app.command("commit")
def redraw_commit(redraw_id: int, as_json: bool = JsonOpt):
    """Make a valid proposal's draft the active generation (refused when another commit came first)."""
    from gis.redraw import propose
    from gis.store.db import session_scope

    try:
        with session_scope(_engine()) as session:
            gen = propose.commit(session, redraw_id, "cli")
    except (propose.RedrawConflict, propose.RedrawNotFound) as exc:
        _fail(str(exc))
    _out({"generation": gen}, as_json, f"generation {gen} is active")


# -- codes and the whole-record check -------------------------------------------------------------
@app.command()
def codes(code: str = typer.Argument(..., help="a code of any generation, or a merge's source code"),
          level: Optional[str] = typer.Option(None, help="district | street | community | grid | unit"),
          as_json: bool = JsonOpt):
    """What a code was (level, name, generations) and what it became in the active generation."""
    from gis.store import codes as store_codes
    from gis.store.db import session_scope
    from gis.vocab import LEVELS

    if level is not None and level not in LEVELS:
        _fail(f"--level: {level!r} is not one of {', '.join(LEVELS)}")
    try:
        with session_scope(_engine()) as session:
            out = store_codes.history(session, code, level)
    except store_codes.CodeNotFound as exc:
        _fail(str(exc))
    lines = [f"{w['level']} {code}: {w['name']} (area {w['area_id']}, generations {w['first']}–{w['last']}"
             + (", active" if w["present"] else "") + ")" for w in out["was"]]
    lines += [f"  became {n['level']} {n['code']} {n['name']} ({n['share']:.1%})" for n in out["now"]]
    lines += [f"  came from {r['from_code']} ({r['kind']}, generation {r['generation']})" for r in out["came_from"]]
    _out(out, as_json, "\n".join(lines) or f"{code}: known only to the crosswalk")


@app.command()
def check(generation: Optional[int] = typer.Option(None, help="default: the active generation"),
          as_json: bool = JsonOpt):
    """The whole-record check: codes that do not begin with their parent's, missing parents, assignments
    and open requests pointing at areas the generation does not hold. Exit 1 when anything is found."""
    from gis.store import integrity
    from gis.store.db import session_scope
    from gis.store.generations import GenerationNotFound

    try:
        with session_scope(_engine()) as session:
            out = integrity.check(session, generation)
    except GenerationNotFound as exc:
        _fail(str(exc))
    lines = [f"generation {out['generation']}: " + ("sound" if out["ok"] else f"{len(out['findings'])} problem(s)")]
    for f in out["findings"]:
        lines.append(f"  {f['kind']}: {f['count']} {f['message']}, e.g. {', '.join(f['examples'][:5])}")
    _out(out, as_json, "\n".join(lines))
    if not out["ok"]:
        typer.echo(f"error: the record of generation {out['generation']} has {len(out['findings'])} kind(s) "
                   "of problem", err=True)
        raise typer.Exit(1)


# -- keys -----------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(role: str = typer.Option(..., help="consumer | command | planner | admin"),
                as_json: bool = JsonOpt):
    """Create an API key with a role and print it (it is stored hashed; keep it)."""
    from gis import keys
    from gis.store.db import session_scope

    try:
        with session_scope(_engine()) as s:
            key = keys.create(s, role)
    except keys.UnknownRole as exc:
        _fail(str(exc))
    _out({"key": key, "role": role}, as_json, key)


# -- server ---------------------------------------------------------------------------------------
@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          limit_max_requests: Optional[int] = typer.Option(
              None, help="with --workers 2 or more: replace a worker after this many requests (the ones in "
                         "flight finish first); with one worker the server would stop instead"),
          forwarded_allow_ips: Optional[str] = typer.Option(
              None, help="proxies trusted for X-Forwarded-For (the client address that wrong keys are "
                         "counted against); default: 127.0.0.1")):
    """Run the HTTP API and the map pages. API keys are masked in every log line (access log included)."""
    import uvicorn

    from api.middleware.redact import log_config
    from gis.store.db import resolve_url

    _engine()  # start and migrate once here, so workers find the database ready
    os.environ["WANGGE_DATABASE_URL"] = resolve_url()
    extra = {"forwarded_allow_ips": forwarded_allow_ips} if forwarded_allow_ips else {}
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level="info", log_config=log_config(),
                limit_max_requests=limit_max_requests, **extra)


def main() -> None:  # pragma: no cover
    """The `wangge` console script."""
    app()


# -- merging networks (多网合一) ----------------------------------------------------------------------
@app.command("merge")
def merge_networks(sources: list[Path] = typer.Argument(..., help="two or more source network files (GeoJSON, "
                                                                  "GeoPackage, Shapefile; any declared CRS)"),
                   level: str = typer.Option("grid", help="the level merged: grid"),
                   name_of: list[str] = typer.Option([], "--name-of", help="SOURCE=label: a source's label "
                                                     "(default: its file name without suffix); repeatable"),
                   code_field: list[str] = typer.Option([], "--code-field", help="the field holding each area's "
                                                        "code: F for every source, or SOURCE=F; repeatable"),
                   name_field: Optional[str] = typer.Option(None, help="the field holding each area's name"),
                   parent: Optional[str] = typer.Option(None, help="merge only within this district, street or "
                                                                   "community (default: every community)"),
                   as_json: bool = JsonOpt):
    """Overlay source networks, report where they disagree, and propose one merged network as a redraw
    (commit it with `wangge redraw commit ID`; the commit writes the crosswalk from every source code)."""
    from gis.redraw.merge import MAX_SOURCES, MergeError, propose_merge, source_from_file
    from gis.redraw.propose import RedrawError
    from gis.store.db import session_scope
    from gis.settings import get_settings

    labels = {}
    for item in name_of:
        key, sep, label = item.partition("=")
        if not sep or not key or not label.strip():
            _fail(f"--name-of: {item!r} is not SOURCE=label")
        labels[str(Path(key).resolve())] = label.strip()
    fields, every = {}, None
    for item in code_field:
        key, sep, field = item.rpartition("=")
        if sep and key:
            fields[str(Path(key).resolve())] = field.strip()
        else:
            every = item.strip()
    unknown = sorted((set(labels) | set(fields)) - {str(p.resolve()) for p in sources})
    if unknown:
        _fail(f"--name-of/--code-field: {unknown[0]} is not one of the sources given")
    s = get_settings()
    try:
        if len(sources) < 2:
            raise MergeError(f"sources: give 2 to {MAX_SOURCES} source network files, not {len(sources)}")
        nets = [source_from_file(p, labels.get(str(p.resolve())), fields.get(str(p.resolve()), every), name_field,
                                 s.max_vertices)
                for p in sources]
        with session_scope(_engine()) as session:
            out = propose_merge(session, nets, parent, "cli",
                                      {"grid": (s.grid_households_min, s.grid_households_max)}, level=level)
    except RedrawError as exc:
        _fail(str(exc))
    lines = [f"merge → redraw {out['id']}: {'valid' if out['valid'] else 'NOT valid'}"
             + (f", draft generation {out['draft_generation']}" if out["draft_generation"] else "")
             + f"; {out['impact']['kept']} grids kept as the sources agree, {out['impact']['redrawn']} redrawn"]
    lines += [f"  disagreement {d['kind']}: {d['message']}" for d in out["disagreements"]]
    lines += [f"  {f['severity']} {f['kind']}: {f['message']}" for f in out["findings"]]
    _out(out, as_json, "\n".join(lines))
    if not out["valid"]:
        raise typer.Exit(3)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
