"""Benchmark: geocoding addresses as residents type them, ours vs rapidfuzz extractOne(WRatio) over the
full address strings, on a labelled query set built from the registry:

    .venv/bin/wangge demo --scale city && .venv/bin/python bench/geocode.py [--queries 2000]

Structural noise (every query, seeded, from one registry entrance):
- administrative prefix: province+city dropped 70 %, district 50 %, street 60 %, community 60 %;
- building word: 栋/幢/号楼/座 at random; building and unit numbers in Chinese numerals 30 %;
- digits full-width 20 %; spaces or punctuation between parts 30 %;
- filler words: a leading 我家在/地址:/家住 20 %, a trailing 附近/楼下/门口 20 %;
- estate suffix (小区/花园/苑…) dropped 20 %; road+house number left out 15 %.
Then one kind of keyboard noise per query, learnt from the real pinyin table (pypinyin over the registry's
own characters and the 3,755 common characters of GB 2312 level 1), never from a hand-written list:
- homophone: one character of the road or the estate swapped for another with the same pinyin and tone;
- tone: … for one with the same toneless pinyin in another tone (near-homophone);
- fold: … for one a dialect fold away (WANGGE_PINYIN_FOLDS, e.g. southwest n/l: 南 → 兰);
- room: a room or household number after the unit (1701室, 301户, 502房, 5-2-1701);
- filler: a where-word after a number (12号旁边, 5栋门口, 2单元楼下);
- plain: none.
Plus 15 % extra queries for house numbers the registry lacks (road + a number beyond the road's range, with
or without estate/building): the right answer is the road, and no confident building. Queries per second
are CPU time on one core (the machine is shared), wall-clock beside it.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.locate import machine  # noqa: E402
from gis.store.db import get_engine, session_scope  # noqa: E402
from gis.store.generations import active_id  # noqa: E402
from gis.address.geocode import load_geocoder  # noqa: E402
from gis.address.pinyin import parse_folds  # noqa: E402
from gis.locate.engine import build_engine  # noqa: E402
from gis.settings import get_settings  # noqa: E402

PATTERN = re.compile(r"(山东省济南市)(历下区)(.+?街道)(.+?社区)(.+?(?:大道|路|街|巷))(\d+)号(.+?)(\d+)栋(\d+)单元")
CN = "零一二三四五六七八九"
KINDS = ("plain", "homophone", "tone", "fold", "room", "filler")
SUFFIXES = ("家属院", "小区", "花园", "新村", "家园", "公寓", "苑")


def common_characters() -> list[str]:
    """The 3,755 level-1 characters of GB 2312 (the common-character list every pinyin IME starts from)."""
    out = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                out.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


class SoundTable:
    """Characters by sound, from pypinyin: by tone-marked syllable, toneless syllable and folded syllable."""

    def __init__(self, chars, folds):
        from pypinyin import Style, pinyin
        self.folds = folds
        self.tone3, self.plain, self.folded = defaultdict(set), defaultdict(set), defaultdict(set)
        self.of = {}
        for ch in sorted(set(chars)):
            if not "\u4e00" <= ch <= "\u9fff":
                continue
            readings = [r for r in pinyin(ch, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)[0]]
            self.of[ch] = readings
            for r in readings:
                self.tone3[r].add(ch)
                self.plain[r.rstrip("12345")].add(ch)
                self.folded[folds.syllable(r.rstrip("12345"))].add(ch)

    def swaps(self, ch: str, reading: str, kind: str) -> list[str]:
        """Characters a pinyin keyboard offers for `ch` read as `reading` (tone-marked), by noise kind."""
        plain = reading.rstrip("12345")
        if kind == "homophone":
            got = self.tone3[reading]
        elif kind == "tone":
            got = {c for c in self.plain[plain] if reading not in self.of[c]}
        else:  # one fold away: the same folded syllable, another toneless one
            got = {c for c in self.folded[self.folds.syllable(plain)]
                   if all(r.rstrip("12345") != plain for r in self.of[c])}
        return sorted(got - {ch})


def sound_noise(name: str, kind: str, table: SoundTable, rng) -> str | None:
    """`name` with one character swapped for one of its kind of sound-alike (None when it has none)."""
    from pypinyin import Style, lazy_pinyin
    said = lazy_pinyin(name, style=Style.TONE3, neutral_tone_with_five=True)
    spots = [(i, opts) for i, (ch, r) in enumerate(zip(name, said)) if (opts := table.swaps(ch, r, kind))]
    if not spots:
        return None
    i, opts = spots[rng.integers(len(spots))]
    return name[:i] + opts[rng.integers(len(opts))] + name[i + 1:]


def cn_num(n: str) -> str:
    k = int(n)
    if k < 10:
        return CN[k]
    if k < 20:
        return "十" + (CN[k % 10] if k % 10 else "")
    if k < 100:
        return CN[k // 10] + "十" + (CN[k % 10] if k % 10 else "")
    return n


def make_query(parts, rng, kind="plain", table=None, missing_number=None):
    """One resident-style query for a registry entrance, with the structural noise and one kind of noise."""
    prov, dist, street, comm, road, num, estate, b, u = parts
    if missing_number:
        num = missing_number
    if kind in ("homophone", "tone", "fold"):
        which = ["road", "estate"][rng.integers(2)]
        if which == "road":
            road = sound_noise(road, kind, table, rng) or road
        else:
            core = next((estate[: -len(s)] for s in SUFFIXES if estate.endswith(s) and len(estate) > len(s)), estate)
            estate = (sound_noise(core, kind, table, rng) or core) + estate[len(core):]
    if rng.random() < 0.2:
        for suf in SUFFIXES:
            if estate.endswith(suf) and len(estate) > len(suf) + 1:
                estate = estate[: -len(suf)]
                break
    bword = ["栋", "幢", "号楼", "座"][rng.integers(4)]
    numerals = rng.random() < 0.3
    room = f"{int(rng.integers(1, 33))}{int(rng.integers(1, 5)):02d}"
    if numerals:
        b, u = cn_num(b), cn_num(u)
    pieces = []
    if rng.random() > 0.7:
        pieces.append(prov)
    if rng.random() > 0.5:
        pieces.append(dist)
    if rng.random() > 0.6:
        pieces.append(street)
    if rng.random() > 0.6:
        pieces.append(comm)
    filler = ["楼下", "旁边", "对面", "门口", "附近", "隔壁"][rng.integers(6)]
    spot = int(rng.integers(3)) if kind == "filler" else -1
    with_road = missing_number or rng.random() > 0.15
    if with_road:
        pieces.append(f"{road}{num}号" + (filler if spot == 0 else ""))
    elif spot == 0:
        spot = 1
    pieces += [estate, f"{b}{bword}" + (filler if spot == 1 else ""), f"{u}单元" + (filler if spot == 2 else "")]
    if kind == "room":
        style = int(rng.integers(4))
        if style == 3 and not numerals:
            pieces[-2:] = [f"{b}-{u}-{room}"]
        else:
            pieces.append(room + ["室", "户", "房", "室"][style])
    sep = [" ", "，", "、", ""][rng.integers(4)] if rng.random() < 0.3 else ""
    q = sep.join(pieces)
    if rng.random() < 0.2:
        q = q.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if rng.random() < 0.2:
        q = ["我家在", "地址：", "家住"][rng.integers(3)] + q
    if rng.random() < 0.2 and kind != "filler":
        q += ["附近", "楼下", "门口"][rng.integers(3)]
    return q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--baseline", type=int, default=60, help="queries of each kind the (slow) baseline answers")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    engine = get_engine()
    with session_scope(engine) as s:
        gen = active_id(s)
    print(f"machine: {machine()}")
    folds = get_settings().pinyin_folds
    t = time.perf_counter()
    gc = load_geocoder(engine, build_engine(engine, gen), folds)
    print(f"registry: {len(gc.r.address):,} addresses, {len(gc.roads)} roads, {len(gc.estates)} estates; "
          f"geocoder built in {time.perf_counter() - t:.1f} s; folds: {folds}")
    table = SoundTable("".join(gc.r.address) + "".join(common_characters()), parse_folds(folds))
    print(f"sound table: {len(table.of):,} characters, {len(table.tone3):,} syllables with tone, "
          f"{len(table.plain):,} without")
    rng = np.random.default_rng(args.seed)
    rows = [i for i in rng.permutation(len(gc.r.address)) if PATTERN.match(gc.r.address[i])][: args.queries]
    queries = []  # (query, truth, kind)
    for n, i in enumerate(rows):
        kind = KINDS[n % len(KINDS)]
        queries.append((make_query(PATTERN.match(gc.r.address[i]).groups(), rng, kind, table), gc.r.address[i], kind))
    for n, i in enumerate(rows[: int(args.queries * 0.15)]):
        parts = PATTERN.match(gc.r.address[i]).groups()
        kind = ("plain", "homophone", "fold")[n % 3]
        queries.append((make_query(parts, rng, kind, table, missing_number=str(9000 + int(rng.integers(999)))),
                        parts[4], "missing number"))

    t, c = time.perf_counter(), time.process_time()
    answers = [gc.geocode(q, 5) for q, _, _ in queries]
    wall, cpu = time.perf_counter() - t, time.process_time() - c

    def judge(ans, truth, kind):
        top = ans["candidates"][0] if ans["candidates"] else None
        if kind == "missing number":
            return top is not None and top["level"] == "road" and top["address"] == truth and not ans["confident"]
        return top is not None and top["address"] == truth

    real = [(a, tr, k) for a, (_, tr, k) in zip(answers, queries) if k != "missing number"]
    fake = [a for a, (_, _, k) in zip(answers, queries) if k == "missing number"]
    top1 = np.mean([judge(a, tr, k) for a, tr, k in real])
    conf = [judge(a, tr, k) for a, tr, k in real if a["confident"]]
    wrong_conf_fake = sum(a["confident"] for a in fake)
    confident_building = sum(a["confident"] or any(c["level"] in ("unit", "building") for c in a["candidates"][:1])
                             for a in fake)
    nothing = sum(not a["candidates"] for a in answers)

    from rapidfuzz import fuzz, process
    corpus = list(gc.r.address)
    base_by_kind, base_conf, base_t, base_n = {}, [], 0.0, 0
    for kind in KINDS:
        sub = [(q, tr) for q, tr, k in queries if k == kind][: args.baseline]
        t = time.process_time()
        got = [process.extractOne(q, corpus, scorer=fuzz.WRatio) for q, _ in sub]
        base_t, base_n = base_t + time.process_time() - t, base_n + len(sub)
        base_by_kind[kind] = np.mean([b[0] == tr for b, (_, tr) in zip(got, sub)]) if sub else float("nan")
        base_conf += [b[0] == tr for b, (_, tr) in zip(got, sub) if b[1] >= 90]
    fake_sub = [(q, tr) for q, tr, k in queries if k == "missing number"][: args.baseline]
    base_fake_conf = sum(process.extractOne(q, corpus, scorer=fuzz.WRatio)[1] >= 90 for q, _ in fake_sub)

    print(f"\n{len(real):,} queries for existing entrances + {len(fake):,} for house numbers that do not exist")
    print(f"{'':34s} {'ours':>10s} {'extractOne WRatio':>18s}")
    for kind in KINDS:
        mine = [judge(a, tr, k) for a, tr, k in real if k == kind]
        print(f"{'top-1, ' + kind:34s} {np.mean(mine):10.2%} {base_by_kind[kind]:18.2%}   "
              f"({len(mine)} / {min(len(mine), args.baseline)} queries)")
    print(f"{'top-1 accuracy, all':34s} {top1:10.2%} {np.nanmean(list(base_by_kind.values())):18.2%}")
    print(f"{'precision when confident':34s} {np.mean(conf) if conf else float('nan'):10.2%} "
          f"{np.mean(base_conf) if base_conf else float('nan'):18.2%}   (baseline: score ≥ 90 as confident)")
    print(f"{'share answered confidently':34s} {len(conf) / len(real):10.2%} {len(base_conf) / max(base_n, 1):18.2%}")
    print(f"{'confident on a missing number':34s} {wrong_conf_fake:10d} {base_fake_conf:18d}   "
          f"(of {len(fake)} / {len(fake_sub)})")
    print(f"{'missing number → building or sure':34s} {confident_building:10d} {'n/a':>18s}")
    print(f"{'missing number → its road':34s} {np.mean([judge(a, tr, k) for a, (_, tr, k) in zip(answers, queries) if k == 'missing number']):10.2%} {'n/a':>18s}")
    print(f"{'answered nothing':34s} {nothing:10d} {'n/a':>18s}")
    print(f"{'queries/s (CPU, one core)':34s} {len(queries) / cpu:10,.0f} {base_n / max(base_t, 1e-9):18,.1f}")
    print(f"{'queries/s (wall clock, shared)':34s} {len(queries) / wall:10,.0f}")
    bad = [(k, q, tr, a["candidates"][0]["address"] if a["candidates"] else None, a["confident"])
           for a, (q, tr, k) in zip(answers, queries) if not judge(a, tr, k)]
    wrong_sure = [b for b in bad if b[4]]
    if bad:
        print(f"\nsome misses ({len(bad)}; confident and wrong: {len(wrong_sure)}):")
        for k, q, tr, got, sure in (wrong_sure + [b for b in bad if not b[4]])[:12]:
            print(f"  [{k}{', confident' if sure else ''}] {q}\n    want {tr}\n    got  {got}")


if __name__ == "__main__":
    main()
