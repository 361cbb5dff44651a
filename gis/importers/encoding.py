"""Which text encoding a delivered file's attributes are in: said outright (`--encoding`), or guessed.

Agencies deliver Shapefiles whose .dbf is GBK/GB18030 with no `.cpg`; GDAL would then read it as
ISO-8859-1 and turn every Chinese name into mojibake. The guess, when nobody says: the `.cpg` if
present, else a dBASE language driver id that names code page 936, else UTF-8 if every byte decodes
strictly, else GB18030 (a superset of GBK and GB2312). The report says which was used and why.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

GUESS_ORDER = ("UTF-8", "GB18030")
# dBASE language driver ids (byte 29 of the header) that name the simplified Chinese code page 936.
LDID_936 = {0x4D, 0x7A}
# Names agencies' tools write in a .cpg, beyond Python's own codec names.
CPG_ALIASES = {"ANSI 936": "GBK", "936": "GBK", "65001": "UTF-8", "UTF8": "UTF-8", "54936": "GB18030",
               "20936": "GB2312", "OEM": None, "ANSI": None, "SYSTEM": None}


class EncodingError(ValueError):
    """An encoding name that is not known, or text that is not in the encoding said."""


@dataclass(frozen=True)
class Chosen:
    """The encoding used to read a file's text and how it was chosen (`asked`, `cpg`, `ldid`, `guessed`)."""

    encoding: str
    how: str

    def report(self) -> dict:
        """The encoding as an import report shows it."""
        return {"encoding": self.encoding, "how": self.how}


def canonical(name: str, field: str = "--encoding") -> str:
    """The standard spelling of an encoding name (UTF-8, GBK, GB18030, ...); EncodingError naming `field`."""
    raw = (name or "").strip()
    alias = CPG_ALIASES.get(raw.upper(), raw)
    try:
        info = codecs.lookup(alias or "")
    except LookupError:
        raise EncodingError(f"{field}: unknown encoding {raw!r}; use e.g. UTF-8, GBK or GB18030") from None
    return {"utf-8": "UTF-8", "gbk": "GBK", "gb18030": "GB18030", "gb2312": "GB2312", "big5": "BIG5",
            "utf-8-sig": "UTF-8"}.get(info.name, info.name.upper())


def _cpg(shp: Path) -> str | None:
    """The encoding a .cpg beside `shp` names, if there is one that Python knows."""
    for suffix in (".cpg", ".CPG"):
        p = shp.with_suffix(suffix)
        if p.exists():
            try:
                return canonical(p.read_text(encoding="ascii", errors="replace").strip(), "cpg")
            except EncodingError:
                return None
    return None


def _dbf(shp: Path) -> Path | None:
    """The .dbf beside a .shp (either case)."""
    for suffix in (".dbf", ".DBF"):
        if (p := shp.with_suffix(suffix)).exists():
            return p
    return None


def _strict_utf8(data: bytes) -> bool:
    """Whether bytes decode as UTF-8 with no error."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def dbf_text(dbf: Path) -> tuple[int, bytes]:
    """A .dbf's language driver id and its text bytes (field names and records; the binary header left out)."""
    data = dbf.read_bytes()
    if len(data) < 32:
        return 0, b""
    header_len = int.from_bytes(data[8:10], "little")
    names = b"".join(data[i:i + 11].split(b"\0", 1)[0] for i in range(32, max(32, header_len - 1), 32))
    return data[29], names + data[header_len:]


def shapefile_encoding(shp: Path, asked: str | None = None) -> Chosen:
    """The encoding to read a Shapefile's attribute table with: asked, .cpg, LDID 936, strict UTF-8, GB18030."""
    if asked:
        return Chosen(canonical(asked), "asked")
    if cpg := _cpg(shp):
        return Chosen(cpg, "cpg")
    dbf = _dbf(shp)
    if dbf is None:
        return Chosen("UTF-8", "guessed")
    ldid, body = dbf_text(dbf)
    if ldid in LDID_936:
        return Chosen("GBK" if _decodes(body, "gbk") else "GB18030", "ldid")
    return Chosen("UTF-8" if _strict_utf8(body) else "GB18030", "guessed")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def read_text(path: Path, asked: str | None = None) -> tuple[str, Chosen]:
    """A text file (CSV) decoded as asked, else strictly as UTF-8 (a BOM allowed), else as GB18030."""
    data = Path(path).read_bytes()
    if asked:
        enc = canonical(asked)
        codec = "utf-8-sig" if enc == "UTF-8" else enc
        try:
            return data.decode(codec), Chosen(enc, "asked")
        except UnicodeDecodeError as exc:
            raise EncodingError(f"{Path(path).name}: not {enc} text (byte {exc.start}); give the file's "
                                f"encoding with --encoding") from None
    try:
        return data.decode("utf-8-sig"), Chosen("UTF-8", "guessed")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), Chosen("GB18030", "guessed")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{Path(path).name}: neither UTF-8 nor GB18030 text (byte {exc.start}); give the "
                            f"file's encoding with --encoding") from None
