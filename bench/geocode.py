"""Benchmark: geocoding addresses as residents type them, ours vs rapidfuzz extractOne(WRatio) over the
full address strings, on a labelled query set built from the registry:

    .venv/bin/wangge demo --scale city && .venv/bin/python bench/geocode.py [--queries 2000]

Noise model (each query starts from one registry entrance, seeded):
- administrative prefix: province+city dropped 70 %, district 50 %, street 60 %, community 60 %;
- building word: 栋/幢/号楼/座 at random; building and unit numbers in Chinese numerals 30 %;
- digits full-width 20 %; spaces or punctuation between parts 30 %;
- filler words: a leading 我家在/地址:/家住 20 %, a trailing 附近/楼下/门口 20 %;
- estate suffix (小区/花园/苑…) dropped 20 %; road+house number left out 15 %;
- one-character typo (homophone or neighbour character) in the road 10 % or in the estate 10 %;
- plus 15 % extra queries for house numbers the registry lacks (road + a number beyond the road's
  range, with or without estate/building): the right answer is the road, and no confident building.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.locate import machine  # noqa: E402
from gis.store.db import get_engine, session_scope  # noqa: E402
from gis.store.generations import active_id  # noqa: E402
from gis.address.geocode import load_geocoder  # noqa: E402
from gis.locate.engine import build_engine  # noqa: E402

PATTERN = re.compile(r"(山东省济南市)(历下区)(.+?街道)(.+?社区)(.+?(?:大道|路|街|巷))(\d+)号(.+?)(\d+)栋(\d+)单元")
CN = "零一二三四五六七八九"
TYPO = {"中": "钟", "湖": "胡", "山": "衫", "华": "化", "明": "鸣", "东": "冬", "新": "心", "文": "闻", "景": "井",
        "泉": "全", "和": "河", "花": "华", "园": "圆", "路": "露", "金": "今", "安": "按", "康": "抗", "丽": "力"}


def cn_num(n: str) -> str:
    k = int(n)
    if k < 10:
        return CN[k]
    if k < 20:
        return "十" + (CN[k % 10] if k % 10 else "")
    if k < 100:
        return CN[k // 10] + "十" + (CN[k % 10] if k % 10 else "")
    return n


def typo(word: str, rng) -> str:
    spots = [i for i, ch in enumerate(word) if ch in TYPO]
    if not spots:
        return word
    i = spots[rng.integers(len(spots))]
    return word[:i] + TYPO[word[i]] + word[i + 1:]


def make_query(parts, rng, missing_number=None):
    prov, dist, street, comm, road, num, estate, b, u = parts
    if missing_number:
        num = missing_number
    if rng.random() < 0.1:
        road = typo(road, rng)
    if rng.random() < 0.1:
        estate = typo(estate, rng)
    if rng.random() < 0.2:
        for suf in ("家属院", "小区", "花园", "新村", "家园", "公寓", "苑"):
            if estate.endswith(suf) and len(estate) > len(suf) + 1:
                estate = estate[: -len(suf)]
                break
    bword = ["栋", "幢", "号楼", "座"][rng.integers(4)]
    if rng.random() < 0.3:
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
    if missing_number or rng.random() > 0.15:
        pieces.append(f"{road}{num}号")
    pieces += [estate, f"{b}{bword}", f"{u}单元"]
    sep = [" ", "，", "、", ""][rng.integers(4)] if rng.random() < 0.3 else ""
    q = sep.join(pieces)
    if rng.random() < 0.2:
        q = q.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if rng.random() < 0.2:
        q = ["我家在", "地址：", "家住"][rng.integers(3)] + q
    if rng.random() < 0.2:
        q += ["附近", "楼下", "门口"][rng.integers(3)]
    return q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--baseline", type=int, default=400, help="queries the (slow) baseline answers")
    args = ap.parse_args()
    engine = get_engine()
    with session_scope(engine) as s:
        gen = active_id(s)
    print(f"machine: {machine()}")
    t = time.perf_counter()
    gc = load_geocoder(engine, build_engine(engine, gen))
    print(f"registry: {len(gc.r.address):,} addresses, {len(gc.roads)} roads, {len(gc.estates)} estates; "
          f"geocoder built in {time.perf_counter() - t:.1f} s")
    rng = np.random.default_rng(7)
    rows = [i for i in rng.permutation(len(gc.r.address)) if PATTERN.match(gc.r.address[i])][: args.queries]
    queries = [(make_query(PATTERN.match(gc.r.address[i]).groups(), rng), gc.r.address[i], False) for i in rows]
    for i in rows[: int(args.queries * 0.15)]:
        parts = PATTERN.match(gc.r.address[i]).groups()
        queries.append((make_query(parts, rng, missing_number=str(9000 + int(rng.integers(999)))), parts[4], True))

    t = time.perf_counter()
    answers = [gc.geocode(q, 5) for q, _, _ in queries]
    qps = len(queries) / (time.perf_counter() - t)

    def judge(ans, truth, missing):
        top = ans["candidates"][0] if ans["candidates"] else None
        if missing:
            return top is not None and top["level"] == "road" and not ans["confident"]
        return top is not None and top["address"] == truth

    real = [(a, tr) for a, (_, tr, miss) in zip(answers, queries) if not miss]
    fake = [a for a, (_, _, miss) in zip(answers, queries) if miss]
    top1 = np.mean([judge(a, tr, False) for a, tr in real])
    conf = [judge(a, tr, False) for a, tr in real if a["confident"]]
    wrong_conf_fake = sum(a["confident"] for a in fake)
    fake_road = np.mean([judge(a, None, True) for a in fake])

    from rapidfuzz import fuzz, process
    corpus = list(gc.r.address)
    sub = [(q, tr, miss) for q, tr, miss in queries if not miss][: args.baseline]
    t = time.perf_counter()
    base = [process.extractOne(q, corpus, scorer=fuzz.WRatio) for q, _, _ in sub]
    base_qps = len(sub) / (time.perf_counter() - t)
    base_top1 = np.mean([b[0] == tr for b, (_, tr, _) in zip(base, sub)])
    base_conf = [b[0] == tr for b, (_, tr, _) in zip(base, sub) if b[1] >= 90]
    fake_sub = [(q, tr) for q, tr, miss in queries if miss][: max(1, args.baseline // 4)]
    base_fake_conf = sum(process.extractOne(q, corpus, scorer=fuzz.WRatio)[1] >= 90 for q, _ in fake_sub)

    print(f"\n{len(real):,} queries for existing entrances + {len(fake):,} for house numbers that do not exist")
    print(f"{'':34s} {'ours':>10s} {'extractOne WRatio':>18s}")
    print(f"{'top-1 accuracy':34s} {top1:10.2%} {base_top1:18.2%}   (baseline on {len(sub)} queries)")
    print(f"{'precision when confident':34s} {np.mean(conf) if conf else float('nan'):10.2%} "
          f"{np.mean(base_conf) if base_conf else float('nan'):18.2%}   (baseline: score ≥ 90 as confident)")
    print(f"{'share answered confidently':34s} {len(conf) / len(real):10.2%} {len(base_conf) / len(sub):18.2%}")
    print(f"{'confident on a missing number':34s} {wrong_conf_fake:10d} {base_fake_conf:18d}   "
          f"(of {len(fake)} / {len(fake_sub)})")
    print(f"{'missing number → its road':34s} {fake_road:10.2%} {'n/a':>18s}")
    print(f"{'queries/s (one core)':34s} {qps:10,.0f} {base_qps:18,.1f}")
    bad = [(q, tr, a["candidates"][0]["address"] if a["candidates"] else None)
           for a, (q, tr, miss) in zip(answers, queries) if not miss and not judge(a, tr, False)][:5]
    if bad:
        print("\nsome misses:")
        for q, tr, got in bad:
            print(f"  {q}\n    want {tr}\n    got  {got}")


if __name__ == "__main__":
    main()
