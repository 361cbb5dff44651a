"""Backups: a base backup (pg_basebackup) plus the archived WAL, so the database can be restored as it
was at any moment since the backup — into a fresh embedded cluster in a fresh WANGGE_HOME.

The embedded cluster archives every finished WAL segment into $WANGGE_HOME/pg/wal-archive
(archive_mode=on, archive_timeout=60 s: at most a minute of commits is not yet archived). `backup`
copies the running cluster into DIR/base and records where that archive is in DIR/wangge-backup.json;
`restore` copies DIR/base into the new home's cluster, feeds it the archived WAL written since the
backup (restore_command), stops at `--to` (recovery_target_time) or at the end of the archive, and
promotes it. An external WANGGE_DATABASE_URL can be backed up only by a role with the REPLICATION
attribute and a `replication` line for it in the server's pg_hba.conf.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from gis.settings import Settings
from gis.store import embedded
from gis.store.db import libpq_url

MANIFEST = "wangge-backup.json"
FORMAT = 1


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why in plain words."""


def _bin(name: str) -> str:
    return str(embedded.find_binaries().bindir / name)


def _source(settings: Settings) -> tuple[str, str | None]:
    """(libpq URL of the server to copy, its WAL archive folder or None when not ours to know)."""
    if settings.database_url:
        return libpq_url(settings.database_url), None
    url = embedded.up(settings.home_abs)
    return libpq_url(url), str(embedded.layout(settings.home_abs).wal_archive)


def backup(settings: Settings, dest: Path) -> dict:
    """Copy the database server into `dest` (must be new or empty) and verify the copy; returns a report."""
    dest = dest.expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"backup folder {dest.name!r} is not empty: give a new folder for each backup")
    url, archive = _source(settings)
    with psycopg.connect(url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        archiving = conn.execute("SHOW archive_mode").fetchone()[0] != "off"
    dest.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    proc = subprocess.run([_bin("pg_basebackup"), "-d", url, "-D", str(dest / "base"), "-F", "p", "-X", "stream",
                           "-c", "fast", "--no-password", "-l", f"wangge {started.isoformat()}"],
                          capture_output=True, text=True, timeout=24 * 3600)
    if proc.returncode != 0:
        shutil.rmtree(dest / "base", ignore_errors=True)
        raise BackupError(_explain(proc.stderr))
    verify = subprocess.run([_bin("pg_verifybackup"), "-n", str(dest / "base")], capture_output=True, text=True,
                            timeout=24 * 3600)
    if verify.returncode != 0:
        raise BackupError("the backup copy did not verify against its manifest: run it again")
    label = (dest / "base" / "backup_label").read_text()
    start_wal = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", label).group(1)
    report = {
        "format": FORMAT, "backup": str(dest), "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(), "server_version": version,
        "source": "external" if settings.database_url else "embedded", "start_wal": start_wal,
        "wal_archive": archive if archiving else None,
        "point_in_time": bool(archive and archiving),
        "size_bytes": sum(p.stat().st_size for p in (dest / "base").rglob("*") if p.is_file()),
        "verified": True,
    }
    if not report["point_in_time"]:
        report["note"] = ("WAL archiving is not known to be on for this server: this backup restores to the "
                          "moment it was taken; give restore --wal-archive to roll it forward")
    (dest / MANIFEST).write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def _explain(stderr: str) -> str:
    """pg_basebackup's failure in plain words (never its raw text, which names hosts and paths)."""
    low = stderr.lower()
    if "replication" in low or "walsender" in low or "superuser" in low:
        return ("the database role may not take a base backup: pg_basebackup needs a role with the "
                "REPLICATION attribute (ALTER ROLE ... REPLICATION) and a `host replication ROLE ...` line in "
                "the server's pg_hba.conf; or back up with the server's own tools")
    if "could not connect" in low or "connection" in low:
        return "cannot reach the database server to back it up"
    if "permission denied" in low or "could not create directory" in low:
        return "cannot write the backup folder: check that it is writable"
    return "pg_basebackup failed; see the server's log"


def restore(settings: Settings, src: Path, to: datetime | None = None, wal_archive: Path | None = None) -> dict:
    """Restore the backup in `src` into the embedded cluster of a fresh WANGGE_HOME, rolled forward with the
    archived WAL to `to` (UTC when naive) or to the end of the archive; start it and return a report."""
    if settings.database_url:
        raise BackupError("restore goes into an embedded cluster: unset WANGGE_DATABASE_URL and set WANGGE_HOME "
                          "to a new folder (for an external server, copy backup/base into a stopped server's data "
                          "folder with the PostgreSQL tools)")
    src = src.expanduser().resolve()
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{src.name!r} is not a wangge backup folder (no readable {MANIFEST})") from None
    if not (src / "base" / "backup_label").exists():
        raise BackupError(f"{src.name!r} holds no base backup (base/ is missing or incomplete)")
    home = settings.home_abs
    lay = embedded.layout(home)
    if (lay.data / "PG_VERSION").exists():
        raise BackupError("WANGGE_HOME already holds a database: restore into a fresh home (set WANGGE_HOME to a "
                          "new folder), never over a live one")
    archive = Path(wal_archive) if wal_archive else (Path(manifest["wal_archive"]) if manifest.get("wal_archive")
                                                       else None)
    if to is not None and archive is None:
        raise BackupError("--to needs archived WAL: this backup records no WAL archive; give --wal-archive")
    if archive is not None and not archive.is_dir():
        raise BackupError("the WAL archive folder the backup names is gone; give --wal-archive")
    target = to.replace(tzinfo=to.tzinfo or timezone.utc) if to else None
    if target is not None and target < datetime.fromisoformat(manifest["finished_at"]):
        raise BackupError(f"--to {target.isoformat()} is before this backup finished "
                          f"({manifest['finished_at']}): use an older backup")

    lay.home.mkdir(parents=True, exist_ok=True)
    lay.root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "base", lay.data, symlinks=True)
    replay = lay.root / "restore-wal"
    copied = _copy_wal(archive, replay, manifest["start_wal"]) if archive else 0
    embedded.adopt(lay)
    embedded.chown_to_server(replay)
    settings_text = (f"\n# wangge restore from {src.name}\n"
                     f"restore_command = 'cp \"{replay}/%f\" \"%p\"'\n"
                     "recovery_target_action = 'promote'\n")
    if target is not None:
        settings_text += f"recovery_target_time = '{target.isoformat()}'\n"
    with open(lay.data / "postgresql.auto.conf", "a") as fh:
        fh.write(settings_text)
    (lay.data / "recovery.signal").write_text("")
    embedded.chown_to_server(lay.data)
    try:
        embedded.start(lay)
    except embedded.EmbeddedError:
        raise BackupError("the restored cluster did not start: the archived WAL does not reach --to, or the "
                          f"backup is damaged; see {lay.log.name} in WANGGE_HOME/pg") from None
    url = embedded.up(home)
    _forget_restore_settings(url)
    shutil.rmtree(replay, ignore_errors=True)
    return {"home": str(home), "backup": str(src), "to": target.isoformat() if target else "end of archived WAL",
            "wal_segments_replayed": copied, "url": url, "status": "restored"}


def _copy_wal(archive: Path, into: Path, start_wal: str) -> int:
    """Copy the archived segments from the backup's start on (and timeline histories) where recovery reads."""
    into.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(archive.iterdir()):
        if f.name.endswith(".history") or (len(f.name) >= 24 and f.name[:24] >= start_wal):
            shutil.copy2(f, into / f.name)
            n += 1
    return n


def _forget_restore_settings(url: str) -> None:
    """After promotion the recovery settings are spent: clear them so a restart does not look for them."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for name in ("restore_command", "recovery_target_action", "recovery_target_time"):
            conn.execute(f"ALTER SYSTEM RESET {name}")
