"""Matters the city's directory does not cover: they go to the desk, not to the nearest record.

"公司员工出差，护照在哪里办？" in a directory without a public-security entry retrieves whatever record
mentions 护照 (the materials of a work permit) with a confidence higher than many answerable
colloquial questions, so no confidence threshold separates the two. What does separate them is general
knowledge of how Chinese government is organised: 护照 is 公安's, 公证 is 司法's, 报关 is 海关's. When a
question names such a matter, the directory has no department of that kind, and no item, keyword or
duty of the directory names the matter itself, nobody listed handles it: a commissioner must route it.

The table is general knowledge (like the old-name aliases in retriever.py), not any city's data; each
row lists the cores of the department names that handle the matters and the words that name them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from knowledge.types import Record

# (cores of handling departments' names, words that name their matters). Words are specific: a word that
# several kinds of department handle (许可, 登记) never appears here.
DOMAINS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("公安",), ("护照", "出入境", "签证", "港澳通行证", "往来台湾", "户口", "落户", "迁户", "身份证", "居住证",
                "驾驶证", "驾照", "行驶证", "机动车", "车辆年检", "车牌", "上牌", "保安服务", "保安公司", "治安",
                "旅馆业", "无犯罪记录")),
    (("司法",), ("公证", "律师", "法律援助", "司法鉴定", "人民调解")),
    (("海关",), ("报关", "海关", "检验检疫", "关税", "出口退运")),
    (("气象",), ("防雷", "气象", "升放气球", "庆典气球", "系留气球", "人工影响天气")),
    (("烟草",), ("烟草", "卖烟", "香烟", "卷烟")),
    (("仲裁委",), ("商事仲裁", "仲裁委员会")),
    (("邮政",), ("快递", "邮政")),
    (("外汇",), ("外汇",)),
    (("统计",), ("统计数据", "统计报表", "统计调查")),
    (("人民防空", "人防"), ("人防", "防空地下室", "人民防空")),
    (("教育",), ("办学", "民办学校", "培训学校", "幼儿园", "教师资格")),
    (("民政",), ("养老院", "养老机构", "社会组织", "民办非企业", "婚姻登记", "殡葬")),
    (("海事",), ("海员证", "船员", "海事", "船舶登记")),
    (("法院",), ("起诉", "法院", "立案")),
    (("文物",), ("文物", "古遗址", "古建筑")),
    (("宗教", "民族"), ("宗教",)),
    (("残疾人", "残联"), ("残疾人",)),
    (("工会",), ("工会",)),
    (("地震",), ("抗震设防", "地震安全性评价")),
    (("通信管理",), ("电信业务", "增值电信", "ICP许可")),
    (("档案",), ("档案查询", "档案馆")),
)


class CoverageCheck:
    """Knows which kinds of department and which named matters this city's directory has."""

    def __init__(self, records: Sequence[Record], departments: Iterable[str]) -> None:
        names = list(departments)
        # What the directory itself says it handles: item names and keywords, department names,
        # functions and section duties. Not materials or legal text, where any word may appear.
        parts: list[str] = list(names)
        for record in records:
            if record.kind == "policy":
                continue
            parts.append(record.title)
            for key in ("keywords", "关键词", "functions", "职能", "section_duties", "科室职责", "aliases", "别名"):
                value = record.data.get(key)
                if value:
                    parts.append(str(value))
            section = record.data.get("section")
            if isinstance(section, dict):
                parts.extend(str(v) for v in section.values() if v)
        self._handled = "\n".join(parts)
        self._present = {cores for cores, _ in DOMAINS if any(core in name for name in names for core in cores)}

    def uncovered(self, question: str) -> str:
        """The matter the question names that no department of this directory handles, else ""."""
        for cores, words in DOMAINS:
            if cores in self._present:
                continue
            for word in words:
                if word in question and word not in self._handled:
                    return word
        return ""
