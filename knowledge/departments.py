"""Department names as people write them → the directory's canonical names.

One alias table for everything that names a department: retrieval (a question naming 工商局), the desk
(a commissioner added for 市场监管局), ingest (a policy's front matter naming 云川市人力资源社会保障局).
Light on purpose (no numpy, no models): the desk imports it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

from knowledge.lexical import normalize

# "XX市" / "XX省" / "XX区" prefixes: users drop them ("市场监督管理局" for "示范市市场监督管理局").
_PLACE_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,4}?[省市区县]")
_PARENS = re.compile(r"[（(]([^（）()]+)[）)]")


# Old and colloquial names every Chinese city uses (many from before the 2018 institutional reform),
# mapped to the core of today's name. Applied only when the directory has no such alias itself, and
# only to departments whose canonical name contains the core: general knowledge, not city data.
GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("工商局", "工商所", "质监局", "质检局", "食药监", "食药监局", "物价局", "市场监管局", "市监局"),
        ("市场监督管理",)
    ),
    **dict.fromkeys(("国税局", "地税局", "国税", "地税", "税务所"), ("税务",)),
    **dict.fromkeys(
        ("劳动局", "社保局", "人社局", "劳动保障局", "人事局"), ("人力资源和社会保障", "人力资源社会保障")
    ),
    **dict.fromkeys(("环保局", "环境保护局"), ("生态环境",)),
    **dict.fromkeys(("规划局", "国土局", "国土资源局", "不动产登记中心"), ("自然资源",)),
    **dict.fromkeys(("建委", "住建局", "建设局", "房管局"), ("住房和城乡建设", "住房城乡建设")),
    **dict.fromkeys(("卫生局", "卫计委", "卫健委"), ("卫生健康",)),
    **dict.fromkeys(("安监局", "应急局"), ("应急管理",)),
    **dict.fromkeys(("医保局",), ("医疗保障",)),
    **dict.fromkeys(
        ("文化局", "旅游局", "文旅局", "文广新局"), ("文化和旅游", "文化广电旅游", "文化广电和旅游")
    ),
    **dict.fromkeys(("交通局",), ("交通运输",)),
    **dict.fromkeys(("农业局", "农委"), ("农业农村",)),
    **dict.fromkeys(("发改委", "发改局", "计委"), ("发展和改革", "发展改革")),
    **dict.fromkeys(("经信委", "经信局", "工信局"), ("工业和信息化",)),
    **dict.fromkeys(("科委", "科技局"), ("科学技术",)),
    **dict.fromkeys(("城管", "城管局"), ("城市管理",)),
    **dict.fromkeys(("消防队", "消防大队"), ("消防救援",)),
    **dict.fromkeys(("人防办",), ("人民防空",)),
    **dict.fromkeys(("药监局",), ("药品监督管理",)),
}


def department_names(canonical: str, aliases: Iterable[str]) -> set[str]:
    """Every way a department may be named: canonical, aliases, without place prefix or brackets."""
    names: set[str] = set()
    for raw in [canonical, *aliases]:
        name = normalize(raw).strip()
        if not name:
            continue
        names.add(name)
        names.update(p.strip() for p in re.split(r"[、,，;；]", ",".join(_PARENS.findall(name))) if p.strip())
        bare = _PARENS.sub("", name).strip()
        if bare:
            names.add(bare)
        for variant in list(names):
            short = _PLACE_PREFIX.sub("", variant)
            if short != variant and len(short) >= 4:
                names.add(short)
    return {n for n in names if len(n) >= 2}


def build_alias_map(departments: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Every way each department may be named → the canonical departments it names: the directory's
    names and aliases with their derived variants, then the generic old names (工商局, 劳动局…)."""
    alias_map: dict[str, set[str]] = {}
    for canonical, aliases in departments.items():
        for name in department_names(canonical, aliases):
            alias_map.setdefault(name, set()).add(canonical)
    canonical_names = list(departments)
    for alias, cores in GENERIC_ALIASES.items():
        if alias in alias_map:
            continue  # the directory's own aliases win
        for core in cores:
            targets = {name for name in canonical_names if core in name}
            if targets:
                alias_map[alias] = targets
                break
    return alias_map


_NAME_PLACE = re.compile(r"^[\u4e00-\u9fff]{0,8}?[省市县区州盟旗](?=[\u4e00-\u9fff]{3,})")


def loose_name_key(name: str) -> str:
    """A department name without its place prefix, 和/与/及 and spaces: 市人力资源社会保障局 = 云川市人力资源和社会保障局."""
    return re.sub(r"[和与及\s]", "", _NAME_PLACE.sub("", normalize(name)))


def resolve_department(name: str, departments: Mapping[str, Sequence[str]]) -> tuple[str | None, list[str]]:
    """A department as people write it (市场监管局, 云川市人力资源社会保障局) → (canonical name or None,
    close canonical names to suggest when it cannot be resolved or is ambiguous)."""
    alias_map = build_alias_map(departments)
    key = normalize(name).strip()
    found = alias_map.get(key) or alias_map.get(_PLACE_PREFIX.sub("", key))
    if found and len(found) == 1:
        return next(iter(found)), []
    if not found:
        wanted = loose_name_key(name)
        keyed = {c: loose_name_key(c) for c in departments}
        exact = [c for c, k in keyed.items() if k == wanted]
        if len(exact) == 1:
            return exact[0], []
        found = set(exact)
    close = sorted(found) if found else difflib.get_close_matches(key, list(departments), n=3, cutoff=0.4)
    return None, close
