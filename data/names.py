"""Chinese names for the demo city: streets, communities, estates, roads, people, departments."""
from __future__ import annotations

import numpy as np

_STREET = ["泉城路", "大明湖", "趵突泉", "千佛山", "解放路", "文东", "燕山", "姚家", "龙洞", "智远", "舜华路",
           "东关", "文化东路", "甸柳", "洪家楼", "山大路", "舜玉路", "八里洼", "王官庄", "兴隆", "七里山", "四里村"]
_COMM = ["明湖", "曲水亭", "芙蓉", "百花", "泉景", "文苑", "燕子山", "和平", "青龙", "东舍坊", "佛山苑", "历山",
         "甸柳", "新东", "环山", "佛山", "奥体", "龙奥", "汇隆", "舜耕", "玉函", "金鸡岭", "英雄山", "建新",
         "舜华", "盛福", "康虹", "丁家", "解放东", "山水", "华能", "东泉", "朝山", "兴福", "姚家", "荆山", "窑头"]
_ESTATE_HEAD = ["锦绣", "阳光", "幸福", "和谐", "紫薇", "翡翠", "金桥", "银座", "绿地", "万科", "鲁能", "泉城",
                "丽景", "东方", "华府", "名士", "书香", "枫林", "兰亭", "御景", "春晖", "明珠", "泰和", "嘉园"]
_ESTATE_TAIL = ["小区", "花园", "苑", "新村", "家园", "家属院"]
_ROAD_HEAD = ["经十", "解放", "和平", "文化", "历山", "花园", "山大", "二环东", "工业南", "燕子山", "转山", "舜耕",
              "旅游", "窑头", "黄台", "华龙", "浆水泉", "茂岭山", "七里河", "华信", "奥体中", "龙奥北", "凤山", "港沟"]
_ROAD_MID = ["", "东", "西", "南", "北", "中", "新", "前", "后", "兴", "华", "文", "明", "康"]
_ESTATE_MID = [""] + list("嘉华景丽雅康泰和盛鑫福馨悦瑞祥宁安鸿润荣春秋金玉锦绣翠柳松竹梅兰桂桐枫樱桃李杏橙"
                           "清澄溪湖泉山岭峰云霞晴朗晨曦星月辰阳光明德信义仁礼智博雅致远长乐永恒丰源盈") + \
              [a + b for a in "东西南北中" for b in "城苑景"]
_PLACE_MID = ["", "东", "西", "南", "北", "中", "新", "和"]
_ROAD_TAIL_EW = ["路", "街", "大道"]
_ROAD_TAIL_NS = ["路", "街", "巷"]
_SURNAME = list("王李张刘陈杨黄赵周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌海燕鹏飞晓东雪梅")
_DEPT = ["区住建局", "区城管局", "区民政局", "区卫健委", "区市场监管局", "区生态环境分局", "区应急管理局",
         "区教体局", "区人社局", "区司法局", "区交通运输局", "区水务局", "区供电中心", "区税务局", "区文旅局"]


class Names:
    """Deterministic name source: unique names where the city needs them unique."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._used: set[str] = set()

    def _unique(self, options: list[str]) -> str:
        """A name not used yet, drawn from `options` (numbered only if every option is taken)."""
        free = [o for o in options if o not in self._used]
        if free:
            name = free[int(self.rng.integers(0, len(free)))]
        else:
            k = 2
            while f"{options[0]}{k}" in self._used:
                k += 1
            name = f"{options[0]}{k}"
        self._used.add(name)
        return name

    def street(self) -> str:
        """A new unique street (街道) name."""
        return self._unique([b + m + "街道" for b in _STREET for m in _PLACE_MID[:3]])

    def community(self) -> str:
        """A new unique community (社区) name."""
        return self._unique([b + m + "社区" for b in _COMM for m in _PLACE_MID])

    def estate(self) -> str:
        """Unique across the city, even without its suffix (锦绣花园 and 锦绣苑 would both be 锦绣 to a
        resident), so an estate name and a building number find one building."""
        cores = [h + m for h in _ESTATE_HEAD for m in _ESTATE_MID]
        core = self._unique(cores)
        return core + _ESTATE_TAIL[int(self.rng.integers(0, len(_ESTATE_TAIL)))]

    def roads(self, n: int, axis: str) -> list[str]:
        """`n` distinct road names for one direction (east–west roads end in 路/街/大道, north–south in 路/街/巷)."""
        tails = _ROAD_TAIL_EW if axis == "ew" else _ROAD_TAIL_NS
        pool = [h + m + t for m in _ROAD_MID for h in _ROAD_HEAD for t in tails]
        pool = [p for p in pool if p not in self._used]
        order = self.rng.permutation(len(pool))[:n]
        names = [pool[i] for i in order]
        self._used.update(names)
        return names

    def person(self) -> str:
        """A person's name (surname and one or two given characters)."""
        return self.rng.choice(_SURNAME) + "".join(self.rng.choice(_GIVEN, self.rng.integers(1, 3)))

    def department(self) -> str:
        """A department's name from the list."""
        return str(self.rng.choice(_DEPT))

    def mobile(self) -> str:
        """A mobile number of the usual prefixes (demo data only)."""
        return str(self.rng.choice(["138", "139", "150", "151", "158", "186", "187"])) + \
            f"{int(self.rng.integers(0, 10**8)):08d}"

    def office(self) -> str:
        """An office landline number (demo data only)."""
        return f"0531-{int(self.rng.integers(8000_0000, 8999_9999))}"
