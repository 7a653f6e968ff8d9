"""BM25 over jieba words + character bigrams."""

from __future__ import annotations

from knowledge.lexical import STOP_WORDS, LexicalIndex, add_domain_words, analyze


def test_stop_words_and_question_phrasing_are_dropped() -> None:
    terms = analyze("请问我想申请办理一下食品经营许可证，需要找哪个部门？")
    assert "食品" in terms and "许可" in terms
    assert not set(terms) & {"请问", "申请", "办理", "哪个", "部门", "需要"}
    # No bigram is formed across a removed stop word ("么办" from 怎么办理).
    assert "么办" not in analyze("怎么办理营业执照")


def test_domain_words_stay_whole_and_bigrams_survive_typos() -> None:
    add_domain_words(["示范市市场监督管理局", "市场监管局", "中共广东省委宣传部（广东省版权局）"])
    assert "市场监管局" in analyze("市场监管局在哪")
    assert "广东省版权局" in analyze("广东省版权局电话")
    typo = analyze("营业执造")  # typo for 营业执照
    assert "营业" in typo


def test_emoji_and_punctuation_give_no_terms() -> None:
    assert analyze("😀😀🙏！？") == []
    assert analyze("") == []


def test_search_returns_only_positive_scores_best_first() -> None:
    index = LexicalIndex(
        ["食品经营许可 开饭店 餐饮", "增值税发票申领", "营业执照 企业设立登记", "排污许可证"]
    )
    hits = index.search(analyze("开饭店要办食品经营许可吗"), 10)
    assert hits and hits[0].index == 0
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Nothing known: no arbitrary score-0 documents (bm25s would return some).
    assert index.search(analyze("火星移民"), 10) == []
    assert index.search([], 10) == []


def test_idf_prefers_rare_terms() -> None:
    index = LexicalIndex(["许可 食品", "许可 排污", "许可 发票"])
    assert index.idf("食品") > index.idf("许可")
    assert index.idf("从未出现") >= index.idf("食品")


def test_stop_word_list_keeps_content_words() -> None:
    for word in ("许可", "执照", "补贴", "公司", "个人", "发票"):
        assert word not in STOP_WORDS


def test_cache_skips_unchanged_documents() -> None:
    docs = ["食品经营许可 开饭店", "增值税发票申领"]
    first = LexicalIndex(docs)
    poisoned = {key: "缓存命中" for key in first.cache}  # proves the cached terms are used
    second = LexicalIndex([*docs, "排污许可证"], cache=poisoned)
    assert second.search(["缓存命中"], 5) and len(second.search(["缓存命中"], 5)) == 2
    assert second.search(analyze("排污许可"), 5)[0].index == 2


def test_coverage_is_idf_weighted() -> None:
    index = LexicalIndex(["食品 许可", "排污 许可", "发票 许可"])
    assert index.coverage(0, ["食品", "许可"]) > index.coverage(1, ["食品", "许可"]) > 0
    assert index.coverage(0, ["食品"]) == 1.0
    assert index.coverage(0, ["火星"]) == 0.0
    assert index.coverage(0, []) == 0.0
