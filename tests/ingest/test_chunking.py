"""Chunks are exact slices on sentence boundaries and carry their heading path."""

from __future__ import annotations

from ingest.chunking import chunk_text, heading_of

DOC = """示范市惠企稳岗十条措施
一、稳岗返还
（一）返还标准。中小微企业按上年度实际缴纳失业保险费的60%返还！大型企业按30%返还。
（二）办理方式。免申即享，无需企业申请；由示范市人力资源和社会保障局主动核发？
二、创业支持
1. 个人创业担保贷款最高30万元；
2. 小微企业创业担保贷款最高500万元；
3. 贷款期限最长3年。
第十二条 本措施自2025年3月1日起施行。"""


def test_headings_are_recognised() -> None:
    assert heading_of("一、稳岗返还") == (3, "一、稳岗返还")
    assert heading_of("（二）办理方式。免申即享") == (4, "（二）办理方式")
    assert heading_of("1. 个人创业担保贷款最高30万元；") == (5, "1. 个人创业担保贷款最高30万元")
    assert heading_of("第十二条 本措施自2025年3月1日起施行。") == (7, "第十二条")
    assert heading_of("## 二、办理流程") == (2, "二、办理流程")
    assert heading_of("1.5万元以下的补贴") is None  # a decimal number is not a list marker
    assert heading_of("2025年3月1日起施行") is None


def test_chunks_are_exact_slices_with_section_paths() -> None:
    chunks = chunk_text(DOC, chunk_chars=100, overlap=0)
    assert all(DOC[c.start : c.end] == c.text for c in chunks)
    sections = [c.section for c in chunks]
    assert "一、稳岗返还 › （一）返还标准" in sections
    assert "一、稳岗返还 › （二）办理方式" in sections
    # The short numbered list under 二、 stays together, cited by its parent heading.
    loans = next(c for c in chunks if "500万元" in c.text)
    assert "30万元" in loans.text and loans.section.startswith("二、创业支持")
    # The title line has no heading above it.
    assert chunks[0].section == "" and chunks[0].text.startswith("示范市惠企稳岗十条措施")


def test_every_character_of_body_text_is_covered() -> None:
    chunks = chunk_text(DOC, chunk_chars=100, overlap=0)
    covered = "".join(DOC[c.start : c.end] for c in chunks)
    assert covered.replace("\n", "") == DOC.replace("\n", "")


def test_long_section_splits_on_sentence_ends_with_overlap() -> None:
    sentences = [f"第{i}句说明企业可以在政务服务中心办理相关事项。" for i in range(1, 41)]
    text = "三、办理程序\n" + "".join(sentences)
    chunks = chunk_text(text, chunk_chars=120, overlap=40)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 120 + 10
        assert chunk.text.endswith("。")
        assert chunk.section == "三、办理程序"
    # Neighbours share whole sentences (the overlap), so no sentence is cut off from its context.
    overlapping = sum(1 for a, b in zip(chunks, chunks[1:], strict=False) if b.start < a.end)
    assert overlapping >= len(chunks) - 2
    assert all(s in "".join(c.text for c in chunks) for s in sentences)


def test_a_sentence_longer_than_a_chunk_is_cut_at_a_comma() -> None:
    text = "，".join(["企业可以通过一网通办平台在线提交申请材料"] * 30) + "。"
    chunks = chunk_text(text, chunk_chars=100, overlap=0)
    assert len(chunks) >= 6
    assert all(len(c.text) <= 100 for c in chunks)
    assert all(c.text.endswith(("，", "。")) for c in chunks)


def test_overlap_zero_gives_disjoint_chunks() -> None:
    text = "。".join(["句子内容比较长一些用于测试分块"] * 60) + "。"
    chunks = chunk_text(text, chunk_chars=100, overlap=0)
    assert all(b.start >= a.end for a, b in zip(chunks, chunks[1:], strict=False))


def test_empty_text_has_no_chunks() -> None:
    assert chunk_text("", chunk_chars=100) == []
    assert chunk_text("\n\n", chunk_chars=100) == []


def test_a_long_list_of_one_line_items_is_still_split() -> None:
    text = "办理材料\n" + "\n".join(f"{i}. 营业执照副本复印件；" for i in range(1, 80))
    chunks = chunk_text(text, chunk_chars=100, overlap=0)
    assert len(chunks) > 5
    assert all(len(c.text) <= 120 for c in chunks)


def test_the_document_title_heading_is_not_a_section() -> None:
    text = "# 示范市小餐饮管理办法\n\n一、许可要求\n（一）开办小餐饮应当取得食品经营许可证。\n二、监督检查\n（一）日常检查。"
    chunks = chunk_text(text, chunk_chars=400, overlap=0, title="示范市小餐饮管理办法")
    assert [c.section for c in chunks] == ["一、许可要求 › （一）开办小餐饮应当取得食品经营许可证",
                                           "二、监督检查 › （一）日常检查"]
    assert chunks[0].text.startswith("# 示范市小餐饮管理办法")
