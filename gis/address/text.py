"""Chinese address text as residents type it: normalisation and parsing into components.

Normalising: full-width → half-width (NFKC), punctuation and spaces out, filler words out (我家在,
地址:, 附近, 楼下, 门口…), Chinese numerals before a unit word → digits (十二栋 → 12栋), building
words as one (栋/幢/座/号楼 → 栋). Parsing pulls out the numbered parts (house number 号 / 附N号,
building 栋, unit 单元, floor 层, room 室); the named parts (roads, estates, communities…) are found
against the registry's own vocabulary by the geocoder.
"""
from __future__ import annotations

import re
import unicodedata

LEADING = ("我家在", "我家住", "我住在", "家住", "住在", "地址是", "地址为", "地址", "请问", "麻烦", "帮忙", "位于",
           "在")
TRAILING = ("附近", "楼下", "门口", "旁边", "对面", "这边", "那边", "里面", "这里", "一带", "下")
ESTATE_SUFFIXES = ("家属院", "小区", "花园", "新村", "家园", "公寓", "苑")
_PUNCT = re.compile(r"[\s,，。.、;；:：!！?？()（）\[\]【】「」『』\"'“”‘’<>《》·~～\-—_/\\|#＃]+")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = "零〇一二两三四五六七八九十百千"
_UNIT_WORDS = "号|栋|幢|座|单元|层|楼|室|户|房|门|期|区"
# words after a number that say where, not which: 12号楼下 / 5栋旁边 / 2单元门口 — dropped wherever they stand
FILLER_AFTER = ("楼下", "楼上", "旁边", "对面", "门口", "附近", "隔壁", "后面", "前面", "边上", "这边", "那边", "里面",
                "一带", "这里")
_FILLER_AFTER_RE = re.compile(r"(\d+(?:号|栋|单元|层|室|户|房))(?:" + "|".join(FILLER_AFTER) + ")的?")


def cn_to_int(s: str) -> int:
    """一百零五 → 105, 十二 → 12, 二十 → 20, 三 → 3, 一二三 → 123 (digit by digit when no unit word)."""
    if not any(c in _CN_UNITS for c in s):
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, num = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            num = _CN_DIGITS[c]
        else:
            total += (num or 1) * _CN_UNITS[c]
            num = 0
    return total + num


def normalize(text: str) -> str:
    """One canonical spelling of an address as typed: half-width, no punctuation or filler, digits for
    numerals before a unit word, one building word; 5-2-1701 read as building 5, unit 2, room 1701."""
    s = unicodedata.normalize("NFKC", text or "").lower()
    s = re.sub(r"(?<![\d号])(\d{1,3})[-—](\d{1,2})[-—](\d{3,4})(?![\d号])", r"\1栋\2单元\3室", s)
    s = _PUNCT.sub("", s)
    s = re.sub(f"([{_CN_NUM}]+)(?=({_UNIT_WORDS}))", lambda m: str(cn_to_int(m.group(1))), s)
    s = re.sub(r"((?:路|街|巷|大道)\d+号)楼下", r"\1", s)  # 解放路12号楼下: below number 12, not building 12
    s = re.sub(r"(\d+)号楼", r"\1栋", s)
    s = re.sub(r"(\d+)[幢座]", r"\1栋", s)
    s = re.sub(r"(\d+)楼(\d+)单元", r"\1栋\2单元", s)  # "5楼2单元" is building 5, not floor 5
    s = _FILLER_AFTER_RE.sub(r"\1", s)
    changed = True
    while changed:  # filler words only where people put them: in front, or at the end
        changed = False
        for f in LEADING:
            if s.startswith(f) and len(s) > len(f):
                s, changed = s[len(f):], True
        for f in TRAILING:
            if s.endswith(f) and len(s) > len(f):
                s, changed = s[: -len(f)], True
    return s


def numbers(s: str) -> dict:
    """The numbered parts of a normalised address."""
    out = {}
    m = re.search(r"(\d+)号(?:附(\d+)号)?(?!楼)", s)
    if m:
        out["house_number"] = m.group(1) + (f"附{m.group(2)}" if m.group(2) else "")
    m = re.search(r"(\d+)栋", s)
    if m:
        out["building"] = m.group(1)
    m = re.search(r"(\d+)单元", s)
    if m:
        out["unit"] = m.group(1)
    m = re.search(r"(\d+)(?:层|楼(?!\d))", s)
    if m:
        out["floor"] = m.group(1)
    m = re.search(r"(\d+)(?:室|户|房)|单元(\d{3,4})$", s)
    if m:
        out["room"] = m.group(1) or m.group(2)
    return out


def estate_core(name: str) -> str:
    """An estate's name without its suffix (锦绣花园 → 锦绣), so 锦绣小区 and 锦绣 both find it."""
    for suf in ESTATE_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


def parse_registry(address: str) -> dict:
    """Components of a registry address (standard form): road + number, estate, building, unit."""
    s = normalize(address)
    out = numbers(s)
    m = re.search(r"([^\d区县市省道]{1,12}?(?:大道|路|街|巷))(\d+)号", s)
    if m:
        out["road"] = m.group(1)
    m = re.search(r"号(?:附\d+号)?([^\d]{2,12}?(?:" + "|".join(ESTATE_SUFFIXES) + r"))", s)
    if m:
        out["estate"] = m.group(1)
    return out
