"""The embedded PostGIS cluster: a private PostgreSQL under $WANGGE_HOME/pg, started on demand.

It listens only on a unix socket, trusts local connections (the socket folder is private), and runs
as the `postgres` system user when we are root, because initdb and postgres refuse root.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "wangge"
PORT = 5432
SOCKET_MAX = 107
INSTALL_HINT = (
    "install PostgreSQL with PostGIS 3: on Debian 12 `apt-get install postgresql-15 postgresql-15-postgis-3`, "
    "on Ubuntu 24.04 `apt-get install postgresql-16 postgresql-16-postgis-3`"
)


class EmbeddedError(RuntimeError):
    """The embedded cluster could not be found, initialised or started; the message says why."""


@dataclass(frozen=True)
class Binaries:
    """Where the PostgreSQL binaries and share directory of the embedded cluster are."""
    version: int
    bindir: Path


@dataclass(frozen=True)
class Layout:
    """Where the cluster's files and socket live for one WANGGE_HOME."""

    home: Path
    link: Path       # $WANGGE_HOME/pg, the documented place (a symlink when we had to move it)
    root: Path       # real folder holding data/, run/ and the log
    socket_dir: Path

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "postgres.log"

    @property
    def wal_archive(self) -> Path:
        """Where the server copies each finished WAL segment ($WANGGE_HOME/pg/wal-archive), for restores."""
        return self.root / "wal-archive"

    @property
    def owner_file(self) -> Path:
        """Names the WANGGE_HOME this cluster belongs to, so a cluster whose home is gone can be found."""
        return self.root / "home"

    def url(self, db: str = DB_NAME) -> str:
        """The SQLAlchemy URL of database `db` over the cluster's Unix socket."""
        return f"postgresql+psycopg://{_db_user()}@/{db}?host={self.socket_dir}&port={PORT}"


def find_binaries(lib: Path = Path("/usr/lib/postgresql"), share: Path = Path("/usr/share/postgresql"),
                  use_path: bool = True) -> Binaries:
    """The newest installed PostgreSQL ≥ 14 that has PostGIS 3; a clear error naming the package if none."""
    found = []
    for bindir in lib.glob("*/bin"):
        try:
            version = int(bindir.parent.name)
        except ValueError:
            continue
        if version >= 14 and (bindir / "initdb").exists():
            found.append(Binaries(version, bindir))
    pg_config = shutil.which("pg_config") if use_path else None
    if not found and pg_config:
        bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (bindir / "initdb").exists():
            m = re.search(r"(\d+)", subprocess.run([pg_config, "--version"], capture_output=True, text=True).stdout)
            found.append(Binaries(int(m.group(1)) if m else 0, bindir))
    if not found:
        raise EmbeddedError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")
    for b in sorted(found, key=lambda b: -b.version):
        if (share / str(b.version) / "extension" / "postgis.control").exists() or (
                use_path and _postgis_control(b.version)):
            return b
    versions = ", ".join(str(b.version) for b in found)
    raise EmbeddedError(
        f"PostgreSQL {versions} found but PostGIS 3 is not installed for it: "
        f"apt-get install postgresql-{found[0].version}-postgis-3"
    )


def _postgis_control(version: int) -> bool:
    return any(Path(p).exists() for p in (
        f"/usr/share/postgresql/{version}/extension/postgis.control",
        f"/usr/local/share/postgresql/{version}/extension/postgis.control",
    ))


def _as_root() -> bool:
    return os.geteuid() == 0


def _db_user() -> str:
    return "postgres" if _as_root() else pwd.getpwuid(os.geteuid()).pw_name


def _reachable_by(path: Path, user: str) -> bool:
    """Can `user` traverse every folder down to `path`? (root's home or a mktemp -d folder is not.)"""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return False
    p = path
    while True:
        if p.exists():
            st = p.stat()
            if st.st_uid == pw.pw_uid:
                ok = st.st_mode & 0o100
            elif st.st_gid == pw.pw_gid:
                ok = st.st_mode & 0o010
            else:
                ok = st.st_mode & 0o001
            if not ok:
                return False
        if p.parent == p:
            return True
        p = p.parent


MOVED_ROOTS = Path("/var/tmp")


def _tag(home: Path) -> str:
    return hashlib.sha1(str(home).encode()).hexdigest()[:10]


def _socket_for(root: Path, tag: str) -> Path:
    socket_dir = root / "run"
    if len(str(socket_dir / f".s.PGSQL.{PORT}")) > SOCKET_MAX:
        socket_dir = Path("/tmp") / f"wangge-{tag}"
    return socket_dir


def layout(home: Path) -> Layout:
    """Decide the cluster's folders: $WANGGE_HOME/pg itself when the server user can reach it, else a
    folder under /var/tmp that $WANGGE_HOME/pg links to; the socket moves to /tmp when its path is too long.
    When the home is gone but its moved cluster is still there, that cluster (so `down` can stop it)."""
    home = home.expanduser().resolve()
    link = home / "pg"
    tag = _tag(home)
    moved = MOVED_ROOTS / f"wangge-pg-{tag}"
    if link.is_symlink():
        root = link.resolve()
    elif not link.exists() and _owner_of(moved) == str(home):
        root = moved
    elif not _as_root() or _reachable_by(home, "postgres"):
        root = link
    else:
        root = moved
    return Layout(home=home, link=link, root=root, socket_dir=_socket_for(root, tag))


def _owner_of(root: Path) -> str | None:
    try:
        return (root / "home").read_text().strip()
    except OSError:
        return None


def _run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    if _as_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise EmbeddedError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _prepare_dirs(lay: Layout) -> None:
    lay.home.mkdir(parents=True, exist_ok=True)
    lay.root.mkdir(parents=True, exist_ok=True)
    if lay.root != lay.link and not lay.link.exists():
        lay.link.symlink_to(lay.root)
    lay.socket_dir.mkdir(parents=True, exist_ok=True)
    if _as_root():
        pw = pwd.getpwnam("postgres")
        for p in (lay.root, lay.socket_dir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        if not _reachable_by(lay.root, "postgres"):
            raise EmbeddedError(f"the postgres user cannot reach {lay.root}: make its parent folders traversable")
    os.chmod(lay.socket_dir, 0o700)


@contextmanager
def _lock(lay: Layout, create_home: bool = True):
    """Serialise init/start/stop between processes sharing one WANGGE_HOME (or, once the home is gone,
    its cluster folder)."""
    if create_home:
        lay.home.mkdir(parents=True, exist_ok=True)
    where = lay.home if lay.home.is_dir() else lay.root
    with open(where / ".pg.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dead_postmaster(lay: Layout) -> bool:
    """Whether postmaster.pid names a server that is dead but not yet reaped (a zombie, as after a SIGKILL
    where no init reaps orphans): `pg_ctl status` and the server's own lock checks see it alive, so its
    lock files would block every restart. Such lock files are removed."""
    pid_file = lay.data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    if state not in ("Z", "X"):
        return False
    pid_file.unlink(missing_ok=True)
    (lay.socket_dir / f".s.PGSQL.{PORT}.lock").unlink(missing_ok=True)  # holds the same dead pid
    return True


def is_running(lay: Layout, bins: Binaries | None = None) -> bool:
    """Whether the cluster at `lay` is initialised and its server is up."""
    if not (lay.data / "PG_VERSION").exists() or _dead_postmaster(lay):
        return False
    bins = bins or find_binaries()
    return _run([str(bins.bindir / "pg_ctl"), "-D", str(lay.data), "status"], check=False).returncode == 0


ARCHIVE_MARK = "# wangge WAL archive"


def _archive_conf(lay: Layout) -> str:
    """The settings that keep every finished WAL segment, so a base backup can be rolled forward to a time."""
    arch = str(lay.wal_archive).replace("'", "")
    return (f"\n{ARCHIVE_MARK}\nwal_level = replica\narchive_mode = on\n"
            f"archive_command = 'test ! -f \"{arch}/%f\" && cp \"%p\" \"{arch}/%f\"'\n"
            "archive_timeout = 60\n")


def _configure(lay: Layout, own_archive: bool = False) -> None:
    """Write our settings into a stopped cluster: the base block at initdb, WAL archiving whenever missing
    (with `own_archive`, any archive block copied from another cluster is replaced by this one's)."""
    conf = lay.data / "postgresql.conf"
    text = conf.read_text()
    if own_archive and ARCHIVE_MARK in text:
        text = re.sub(r"\n" + re.escape(ARCHIVE_MARK) + r"\n(?:.*\n)*?archive_timeout = .*\n", "\n", text)
        conf.write_text(text)
    add = ""
    if "# wangge embedded cluster" not in text:
        add += ("\n# wangge embedded cluster\nlisten_addresses = ''\n"
                "shared_buffers = 512MB\nwork_mem = 64MB\nmaintenance_work_mem = 512MB\n"
                "max_connections = 200\nsynchronous_commit = on\n")
    if ARCHIVE_MARK not in text:
        add += _archive_conf(lay)
    if add:
        with open(conf, "a") as fh:
            fh.write(add)
    lay.wal_archive.mkdir(exist_ok=True)
    if _as_root():
        pw = pwd.getpwnam("postgres")
        os.chown(lay.wal_archive, pw.pw_uid, pw.pw_gid)


def up(home: Path) -> str:
    """Start (or reuse) the cluster, make sure the database and PostGIS exist; return the URL.
    Clusters left running by a deleted WANGGE_HOME are stopped first (see `reap_orphans`)."""
    bins = find_binaries()
    reap_orphans(bins)
    lay = layout(home)
    with _lock(lay):
        _prepare_dirs(lay)
        lay.owner_file.write_text(str(lay.home))
        if not (lay.data / "PG_VERSION").exists():
            _run([str(bins.bindir / "initdb"), "-D", str(lay.data), "-U", _db_user(), "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8"])
        if not is_running(lay, bins):
            _configure(lay)
            start(lay, bins)
        _ensure_database(lay, DB_NAME)
    return lay.url()


def adopt(lay: Layout) -> None:
    """Make a data folder copied in from elsewhere (a restored base backup) this home's cluster: folders,
    owner record, ownership by the server user, private modes, and WAL archived into this home's archive."""
    _prepare_dirs(lay)
    lay.owner_file.write_text(str(lay.home))
    (lay.data / "postmaster.pid").unlink(missing_ok=True)
    chown_to_server(lay.data)
    os.chmod(lay.data, 0o700)
    _configure(lay, own_archive=True)


def chown_to_server(path: Path) -> None:
    """Give a folder tree to the server user (as root), so restore_command can read what it holds."""
    if not _as_root():
        return
    pw = pwd.getpwnam("postgres")
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def start(lay: Layout, bins: Binaries | None = None) -> None:
    """pg_ctl start on this layout's socket, waiting until it accepts connections (or has recovered)."""
    bins = bins or find_binaries()
    _run([str(bins.bindir / "pg_ctl"), "-D", str(lay.data), "-l", str(lay.log), "-w", "-t", "300",
          "-o", f"-k {lay.socket_dir} -p {PORT}", "start"])


def reap_orphans(bins: Binaries | None = None) -> list[Path]:
    """Stop and remove moved clusters (/var/tmp/wangge-pg-*) whose WANGGE_HOME no longer exists; the moved
    folders are otherwise the one thing a deleted home leaves running. (A cluster inside its home stops
    by itself within a minute of its postmaster.pid vanishing.) Returns the folders removed."""
    removed = []
    for root in MOVED_ROOTS.glob("wangge-pg-*"):
        owner = _owner_of(root)
        if not owner or Path(owner).exists():
            continue
        lay = Layout(home=Path(owner), link=Path(owner) / "pg", root=root,
                     socket_dir=_socket_for(root, root.name.removeprefix("wangge-pg-")))
        try:
            with _lock(lay, create_home=False):
                if Path(owner).exists() or not root.exists():
                    continue
                if (lay.data / "PG_VERSION").exists() and is_running(lay, bins):
                    _run([str((bins or find_binaries()).bindir / "pg_ctl"), "-D", str(lay.data), "-m",
                          "immediate", "-w", "stop"], check=False)
                shutil.rmtree(root, ignore_errors=True)
                if lay.socket_dir != root / "run":
                    shutil.rmtree(lay.socket_dir, ignore_errors=True)
                removed.append(root)
        except OSError:
            continue
    return removed


def _ensure_database(lay: Layout, name: str) -> None:
    import psycopg

    deadline = time.time() + 30
    while True:
        try:
            conn = psycopg.connect(host=str(lay.socket_dir), port=PORT, user=_db_user(), dbname="postgres",
                                   autocommit=True)
            break
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise EmbeddedError(f"the embedded PostgreSQL did not accept connections; see {lay.log}")
            time.sleep(0.2)
    with conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def down(home: Path) -> bool:
    """Stop the cluster if it runs; True when it was running."""
    lay = layout(home)
    if not (lay.data / "PG_VERSION").exists():
        return False
    bins = find_binaries()
    with _lock(lay, create_home=False):
        if not is_running(lay, bins):
            return False
        _run([str(bins.bindir / "pg_ctl"), "-D", str(lay.data), "-m", "fast", "-w", "stop"])
    return True
