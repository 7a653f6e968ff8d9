"""Who a policy is for: the enterprise-profile vocabulary, a policy's audience, and how they match.

One vocabulary serves three places: the enterprise's profile (asked at /register, edited with
/profile), a policy's `applies_to` front matter (ingest reports names it does not know), and the
audience proposed from a policy's text when it has no `applies_to` (an admin confirms it).

Industries are the 门类 of 国民经济行业分类 (GB/T 4754-2017); sizes the four of 统计上大中小微型企业划分办法;
tags a fixed list of the enterprise kinds 惠企 policies name; districts come from the city's settings.
Within a dimension any listed value matches; across dimensions all must; an empty dimension means
"any". An enterprise whose profile leaves a restricted dimension empty does not match it: a push goes
only to enterprises known to qualify.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# GB/T 4754-2017 门类: (code, official name, words that name it in policies and in conversation). Words that
# policies use for something else are left out: 保险 (社会保险), 培训 (职业技能培训补贴), 建筑 (建筑面积),
# 租赁 (房屋租赁), 研发 (研发费用加计扣除), 卫生 (卫生许可), 能源 (新能源汽车).
INDUSTRY_SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("A", "农、林、牧、渔业", ("农林牧渔", "农业", "林业", "畜牧", "渔业", "种植", "养殖", "农产品", "农户", "涉农")),
    ("B", "采矿业", ("采矿", "矿山", "矿产")),
    ("C", "制造业", ("制造", "工业企业", "工厂", "生产企业", "加工")),
    ("D", "电力、热力、燃气及水生产和供应业", ("电力", "热力", "燃气", "供水")),
    ("E", "建筑业", ("施工", "工程建设", "建筑施工", "建筑企业")),
    ("F", "批发和零售业", ("批发", "零售", "商贸", "商超", "超市", "便利店", "门店")),
    ("G", "交通运输、仓储和邮政业", ("交通运输", "运输", "物流", "仓储", "快递", "邮政", "货运")),
    ("H", "住宿和餐饮业", ("住宿", "餐饮", "饭店", "餐馆", "饭馆", "酒店", "宾馆", "民宿")),
    ("I", "信息传输、软件和信息技术服务业", ("信息传输", "软件", "信息技术", "互联网", "数字经济", "电信", "数据服务")),
    ("J", "金融业", ("金融", "证券")),
    ("K", "房地产业", ("房地产", "物业")),
    ("L", "租赁和商务服务业", ("租赁和商务服务", "商务服务", "人力资源服务", "会展", "广告", "旅行社")),
    ("M", "科学研究和技术服务业", ("科学研究", "技术服务", "科技服务", "检验检测")),
    ("N", "水利、环境和公共设施管理业", ("水利", "环境治理", "环保", "公共设施")),
    ("O", "居民服务、修理和其他服务业", ("居民服务", "修理", "家政", "美容美发", "洗染")),
    ("P", "教育", ("教育", "学校", "幼儿园", "培训机构")),
    ("Q", "卫生和社会工作", ("医疗", "医院", "诊所", "养老", "社会工作")),
    ("R", "文化、体育和娱乐业", ("文化", "体育", "娱乐", "文旅", "旅游", "影视", "演出")),
    ("S", "公共管理、社会保障和社会组织", ("社会组织", "社会团体", "民办非企业")),
    ("T", "国际组织", ("国际组织",)),
)
INDUSTRIES: tuple[str, ...] = tuple(name for _, name, _ in INDUSTRY_SECTIONS)

SIZES: tuple[str, ...] = ("微型", "小型", "中型", "大型")
# Words a policy uses for a group of sizes.
_SIZE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("中小微企业", ("微型", "小型", "中型")),
    ("中小企业", ("微型", "小型", "中型")),
    ("小微企业", ("微型", "小型")),
    ("小型微型企业", ("微型", "小型")),
    ("微型企业", ("微型",)),
    ("小型企业", ("小型",)),
    ("中型企业", ("中型",)),
    ("大型企业", ("大型",)),
    ("微型", ("微型",)),
    ("小型", ("小型",)),
    ("中型", ("中型",)),
    ("大型", ("大型",)),
    ("小微", ("微型", "小型")),
)

# (tag, other ways to write it). Policies name these kinds of enterprise far more than any other.
TAG_FORMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("高新技术企业", ("高新企业", "国家高新技术企业", "高企")),
    ("专精特新", ("专精特新企业", "专精特新中小企业", "小巨人", "专精特新“小巨人”")),
    ("科技型中小企业", ("科技型企业", "科技型中小")),
    ("外贸企业", ("外贸", "进出口企业", "出口企业", "外贸出口")),
    ("个体工商户", ("个体户", "个体经营")),
    ("初创企业", ("初创", "新办企业", "新设立企业", "创业企业")),
    ("规上企业", ("规模以上企业", "规上工业企业", "规上")),
    ("民营企业", ("民企", "非公企业")),
)
TAGS: tuple[str, ...] = tuple(tag for tag, _ in TAG_FORMS)

DIMENSIONS: tuple[str, ...] = ("industries", "sizes", "districts", "tags")
DIMENSION_LABELS: Mapping[str, str] = {"industries": "行业", "sizes": "规模", "districts": "区县", "tags": "标签"}


def _key(text: str) -> str:
    return re.sub(r"[\s、，,“”\"']+", "", unicodedata.normalize("NFKC", text))


def industry_of(text: str) -> str | None:
    """The 门类 a name denotes: its official name, its letter, or one of its words (餐饮 → 住宿和餐饮业)."""
    key = _key(text)
    if not key:
        return None
    for code, name, words in INDUSTRY_SECTIONS:
        if key in (_key(name), code, code.lower()) or key in {_key(w) for w in words}:
            return name
    return None


def sizes_of(text: str) -> tuple[str, ...]:
    """The sizes a word denotes (小微企业 → 微型, 小型); () when it is not a size."""
    key = _key(text)
    for word, sizes in _SIZE_GROUPS:
        if key == _key(word):
            return sizes
    return ()


def tag_of(text: str) -> str | None:
    key = _key(text)
    for tag, forms in TAG_FORMS:
        if key == _key(tag) or key in {_key(f) for f in forms}:
            return tag
    return None


def district_of(text: str, districts: Sequence[str]) -> str | None:
    """A configured district by its name, with or without 区/县/市 (高新区 matches 高新区)."""
    key = _key(text)
    for district in districts:
        if key == _key(district) or (len(key) >= 2 and _key(district).rstrip("区县市") == key.rstrip("区县市")):
            return district
    return None


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a policy is for; an empty dimension means any value."""

    industries: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def is_everyone(self) -> bool:
        return not (self.industries or self.sizes or self.districts or self.tags)

    def as_dict(self) -> dict[str, list[str]]:
        return {d: list(getattr(self, d)) for d in DIMENSIONS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Audience:
        data = data or {}
        return cls(**{d: tuple(str(v) for v in data.get(d) or ()) for d in DIMENSIONS})

    def describe(self) -> str:
        """行业=住宿和餐饮业；规模=微型、小型 (or 全部已订阅企业)."""
        parts = [f"{DIMENSION_LABELS[d]}={'、'.join(getattr(self, d))}" for d in DIMENSIONS if getattr(self, d)]
        return "；".join(parts) if parts else "全部已订阅企业（不限行业、规模、区县、标签）"


@dataclass(frozen=True, slots=True)
class Profile:
    """What an enterprise told us about itself (any field may be empty)."""

    industry: str = ""
    size: str = ""
    district: str = ""
    tags: tuple[str, ...] = ()


def match(audience: Audience, profile: Profile) -> list[str] | None:
    """Why the enterprise is in the audience (["行业=住宿和餐饮业", "规模=小型"]), or None when it is not.

    An audience for everyone matches with no reasons ([]).
    """
    reasons: list[str] = []
    if audience.industries:
        if profile.industry not in audience.industries:
            return None
        reasons.append(f"行业={profile.industry}")
    if audience.sizes:
        if profile.size not in audience.sizes:
            return None
        reasons.append(f"规模={profile.size}")
    if audience.districts:
        if profile.district not in audience.districts:
            return None
        reasons.append(f"区县={profile.district}")
    if audience.tags:
        shared = [t for t in audience.tags if t in profile.tags]
        if not shared:
            return None
        reasons.append(f"标签={'、'.join(shared)}")
    return reasons


@dataclass(slots=True)
class ParsedAudience:
    """An `applies_to` read against the vocabulary: the audience, and the names it did not know."""

    audience: Audience
    unknown: list[str] = field(default_factory=list)  # "行业“美食”" — for the change report


def _items(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [p.strip() for p in re.split(r"[、,，;；/|]", value) if p.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()]


_DIMENSION_KEYS: Mapping[str, tuple[str, ...]] = {
    "industries": ("industries", "industry", "行业"),
    "sizes": ("sizes", "size", "规模"),
    "districts": ("districts", "district", "区县", "地区"),
    "tags": ("tags", "tag", "标签", "企业类型"),
}


def parse_applies_to(value: Any, districts: Sequence[str] = ()) -> ParsedAudience:
    """Read front matter `applies_to` ({industries, sizes, districts, tags}, Chinese keys too).

    Names the vocabulary does not know stay in the audience as written (they match no enterprise, so the
    audience is never wider than meant) and are listed in `unknown` for the change report; with no
    districts configured, district names are taken as written (nothing to check them against).
    """
    if not isinstance(value, Mapping):
        return ParsedAudience(Audience(), ["applies_to 应为“键: 列表”形式（industries/sizes/districts/tags）"]
                              if value not in (None, "") else [])
    lowered = {str(k).strip().lower(): v for k, v in value.items()}
    known_keys = {k for keys in _DIMENSION_KEYS.values() for k in keys}
    unknown = [f"未知的键“{k}”" for k in lowered if k not in known_keys]
    found: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    for dimension, keys in _DIMENSION_KEYS.items():
        raw = next((lowered[k] for k in keys if k in lowered), None)
        for item in _items(raw):
            values: Iterable[str]
            if dimension == "industries":
                values = [v] if (v := industry_of(item)) else []
            elif dimension == "sizes":
                values = sizes_of(item)
            elif dimension == "tags":
                tag = tag_of(item)
                sizes = sizes_of(item) if tag is None else ()
                if sizes:  # "小微企业" written as a tag is a size
                    found["sizes"].extend(sizes)
                    continue
                values = [tag] if tag else []
            else:
                values = [d] if (d := district_of(item, districts)) else ([item] if not districts else [])
            values = list(values)
            if not values:
                # Kept as written: it matches no profile, so the dimension stays as narrow as the
                # author meant (dropping it would widen the audience to "any").
                unknown.append(f"{DIMENSION_LABELS[dimension]}“{item}”")
                values = [item]
            found[dimension].extend(values)
    audience = Audience(**{d: tuple(dict.fromkeys(found[d])) for d in DIMENSIONS})
    return ParsedAudience(audience, unknown)


@dataclass(slots=True)
class ProposedAudience:
    """An audience read from a policy's text, with the words that suggested each value."""

    audience: Audience
    evidence: dict[str, list[str]] = field(default_factory=dict)  # value → words found in the text


def propose_audience(text: str, districts: Sequence[str] = ()) -> ProposedAudience:
    """Guess who a policy is for from its text (行业 words, 小微企业, 高新技术企业, district names).

    Only a proposal: an admin confirms or edits it before anything is sent. A word counts when the text
    names it as a beneficiary-like phrase anywhere; two-character industry words must appear twice, so a
    passing mention (a 餐饮 example in a list of many) does not narrow the audience.
    """
    found: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    evidence: dict[str, list[str]] = {}

    def add(dimension: str, value: str, word: str) -> None:
        if value not in found[dimension]:
            found[dimension].append(value)
        evidence.setdefault(value, [])
        if word not in evidence[value]:
            evidence[value].append(word)

    for _, name, words in INDUSTRY_SECTIONS:
        for word in (name, *words):
            n = text.count(word)
            if n >= (1 if len(word) >= 3 else 2):
                add("industries", name, word)
    for word, sizes in _SIZE_GROUPS:
        if len(word) >= 4 and word in text:  # 小微企业, 中小企业: not a bare 小型 inside other words
            for size in sizes:
                add("sizes", size, word)
    for tag, forms in TAG_FORMS:
        for word in (tag, *forms):
            if len(word) >= 3 and word in text:
                add("tags", tag, word)
                break
    for district in districts:
        if district in text:
            add("districts", district, district)
    # Many industries named at once is a list of examples, not a restriction.
    if len(found["industries"]) > 3:
        for name in found["industries"]:
            evidence.pop(name, None)
        found["industries"] = []
    audience = Audience(**{d: tuple(found[d]) for d in DIMENSIONS})
    return ProposedAudience(audience, evidence)


__all__ = [
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "INDUSTRIES",
    "SIZES",
    "TAGS",
    "Audience",
    "ParsedAudience",
    "Profile",
    "ProposedAudience",
    "district_of",
    "industry_of",
    "match",
    "parse_applies_to",
    "propose_audience",
    "sizes_of",
    "tag_of",
]
