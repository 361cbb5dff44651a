"""Names as a pinyin keyboard sees them: toneless readings (every reading of a polyphonic character), the
city's dialect folds (n/l, f/h, -n/-ng … per WANGGE_PINYIN_FOLDS), and a syllable trie over a vocabulary
so the names a query spells — with any characters of the same sound — are found by dict look-ups.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

PRESETS = {
    "none": "",
    # Guizhou, Sichuan, Chongqing, Yunnan: the folds southwestern Mandarin speakers carry into pinyin
    "southwest": "n-l,f-h,in-ing,en-eng,an-ang,z-zh,c-ch,s-sh",
    # the lower Yangtze and the south: flat/retroflex and -n/-ng merge, n/l less often
    "south": "z-zh,c-ch,s-sh,in-ing,en-eng",
}
INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c",
            "s", "y", "w")
FINALS = ("a", "o", "e", "i", "u", "v", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "in", "ing", "un",
          "ian", "iang", "uan", "uang", "ia", "ie", "iu", "iao", "ua", "uo", "ui", "uai", "ue", "ve", "iong", "er",
          "ueng", "ng", "n", "m")
_MAX_PATHS = 256  # readings combined per name; beyond that only the name's phrase reading is indexed


class FoldError(ValueError):
    """A WANGGE_PINYIN_FOLDS value that is neither a preset nor a list of initial or final pairs."""


@dataclass(frozen=True)
class Folds:
    """A city's dialect folds: which initials and which finals its speakers do not tell apart."""

    initials: tuple[tuple[str, str], ...] = ()
    finals: tuple[tuple[str, str], ...] = ()

    def syllable(self, syl: str) -> str:
        """One toneless syllable folded to its canonical form (southwest: lan → nan, huang → fuan)."""
        ini = next((i for i in INITIALS if syl.startswith(i) and len(syl) > len(i)), "")
        fin = syl[len(ini):]
        for a, b in self.initials:
            if ini == b:
                ini = a
        for short, long_ in self.finals:
            if fin.endswith(long_):
                fin = fin[: -len(long_)] + short
        return ini + fin


def parse_folds(spec: str | None) -> Folds:
    """Folds from a preset name (none, southwest, south) or pairs "n-l,f-h,in-ing" (initials or finals);
    an unknown preset or pair is a FoldError naming WANGGE_PINYIN_FOLDS."""
    spec = (spec or "").strip().lower()
    spec = PRESETS.get(spec, spec)
    initials, finals = [], []
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        a, sep, b = pair.partition("-")
        if not sep or not a or not b:
            raise FoldError(f"WANGGE_PINYIN_FOLDS: {pair!r} is not a pair like n-l or in-ing "
                            f"(or use a preset: {', '.join(PRESETS)})")
        if a in INITIALS and b in INITIALS:
            initials.append((a, b))
        elif a in FINALS and b in FINALS and (b.startswith(a) or a.startswith(b)):
            finals.append((min(a, b, key=len), max(a, b, key=len)))
        else:
            raise FoldError(f"WANGGE_PINYIN_FOLDS: {pair!r} pairs neither two initials nor two finals "
                            f"(e.g. n-l, z-zh, in-ing, an-ang)")
    root: dict[str, str] = {}  # chains (n-l, l-r) fold to one canonical initial, the first named

    def find(x):
        while root.get(x, x) != x:
            x = root[x]
        return x

    for a, b in initials:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[rb] = ra
    pairs = tuple((find(i), i) for i in INITIALS if find(i) != i)
    return Folds(pairs, tuple(sorted(set(finals), key=lambda f: -len(f[1]))))


@lru_cache(maxsize=65536)
def readings(ch: str) -> frozenset[str]:
    """Every toneless reading of one character (六 → liu, lu); anything not Chinese reads as itself."""
    from pypinyin import (  # imported on first use: the settings check needs only the folds
        Style,
        pinyin,
    )
    got = pinyin(ch, style=Style.NORMAL, heteronym=True, errors=lambda c: [c])[0]
    return frozenset(got) or frozenset([ch])


@lru_cache(maxsize=65536)
def primary(ch: str) -> str:
    """A character's usual toneless reading (六 → liu), to prefer the name typed the usual way."""
    from pypinyin import Style, pinyin
    return pinyin(ch, style=Style.NORMAL, errors=lambda c: [c])[0][0]


def name_syllables(name: str) -> list[frozenset[str]]:
    """Per character, every toneless reading — the character's own and the one the whole name gives it."""
    from pypinyin import Style, lazy_pinyin
    phrase = lazy_pinyin(name, style=Style.NORMAL, errors=lambda c: list(c))
    out = [set(readings(ch)) for ch in name]
    if len(phrase) == len(name):
        for s, p in zip(out, phrase):
            s.add(p)
    return [frozenset(s) for s in out]


class PinyinIndex:
    """A vocabulary indexed by the folded syllables of its names (a trie of dicts), answering which names a
    query spells anywhere, and whether the spelling agrees in toneless pinyin or only once folded."""

    def __init__(self, names, folds: Folds | None = None):
        """Keys for every name precomputed once: every reading combination of its characters, folded."""
        from pypinyin import Style, lazy_pinyin
        self.folds = folds or Folds()
        self.root: dict = {}
        self._cache: dict[str, frozenset[str]] = {}
        self.toneless: dict[str, list[frozenset[str]]] = {}
        for name in names:
            syl = name_syllables(name)
            self.toneless[name] = syl
            folded = [sorted({self.folds.syllable(s) for s in ss}) for ss in syl]
            n = 1
            for f in folded:
                n *= len(f)
            paths = product(*folded) if n <= _MAX_PATHS else [tuple(self.folds.syllable(p) for p in
                                                                     lazy_pinyin(name, style=Style.NORMAL))]
            for path in paths:
                node = self.root
                for s in path:
                    node = node.setdefault(s, {})
                node.setdefault(None, []).append(name)

    def _folded(self, ch: str) -> frozenset[str]:
        """A character's folded readings, kept per index (the vocabulary's and the queries' characters)."""
        got = self._cache.get(ch)
        if got is None:
            got = self._cache[ch] = frozenset(self.folds.syllable(s) for s in readings(ch))
        return got

    def find(self, s: str, min_len: int = 2) -> list[tuple[int, int, str, bool]]:
        """Every (start, end, name, toneless) where s[start:end] reads as a name: toneless True when each
        character shares a toneless reading with the name's, False when they agree only once folded."""
        hits = {}
        folded = [self._folded(ch) for ch in s]
        for i in range(len(s)):
            frontier = [self.root]
            for j in range(i, len(s)):
                nxt = {id(n): n for node in frontier for syl in folded[j] if (n := node.get(syl)) is not None}
                if not nxt:
                    break
                frontier = list(nxt.values())
                if j + 1 - i >= min_len:
                    for node in frontier:
                        for name in node.get(None, ()):
                            if name != s[i:j + 1] and (i, j + 1, name) not in hits:
                                hits[(i, j + 1, name)] = self._agrees(s[i:j + 1], name)
        return [(i, j, name, ok) for (i, j, name), ok in hits.items()]

    def _agrees(self, typed: str, name: str) -> bool:
        syl = self.toneless[name]
        return len(typed) == len(syl) and all(readings(c) & ss for c, ss in zip(typed, syl))
