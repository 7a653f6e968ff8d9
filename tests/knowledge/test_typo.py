"""Typo repair towards the knowledge base's own vocabulary (pinyin homophones and one-character slips)."""

from __future__ import annotations

import pytest

from knowledge.lexical import word_frequency
from knowledge.typo import QueryRepairer, fuzzy_syllable

VOCABULARY = {"营业执照", "社保", "公积金", "环评", "消防验收", "食品经营许可", "个体工商户设立登记"}


@pytest.fixture(scope="module")
def repairer() -> QueryRepairer:
    return QueryRepairer(VOCABULARY, lambda text: word_frequency(text) > 0)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("营业职照在哪办", "营业执照"),  # zhi/zhi homophone
        ("社报怎么交", "社保"),
        ("公积经怎么提取", "公积金"),  # jing/jin: -ng merged
        ("新厂环平要多久", "环评"),
        ("消访验收找谁", "消防验收"),
        ("营业执找丢了", "营业执照"),  # one character off, not a homophone
    ],
)
def test_typos_are_repaired_towards_the_vocabulary(repairer: QueryRepairer, typed: str, meant: str) -> None:
    fixed, repairs = repairer.repair(typed)
    assert meant in fixed
    assert repairs and repairs[0].right == meant


@pytest.mark.parametrize("text", ["营业执照在哪办", "我想问一下社保", "开饭店要办什么证", "公司注销要什么材料", "天气怎么样"])
def test_correct_text_is_left_alone(repairer: QueryRepairer, text: str) -> None:
    assert repairer.repair(text) == (text, [])


def test_real_words_and_phrases_are_never_rewritten() -> None:
    # Each of these once became another vocabulary word: 小饭(馆)→消防 by merged sounds, 供电公司→供水公司
    # and 中小企业预(留)→中小企业局 by one character.
    repairer = QueryRepairer({"消防", "供水公司", "中小企业局", "社保"}, lambda text: word_frequency(text) > 0)
    for text in ("俺想开个小饭馆，卖吃的那个证上哪儿整", "供电公司一直说在排期", "给中小企业预留的份额是多少"):
        assert repairer.repair(text) == (text, []), text


def test_ambiguous_sounds_are_not_guessed() -> None:
    # 事项 and 试项 are both vocabulary words that sound alike: "市项" could be either.
    repairer = QueryRepairer({"事项", "试项"}, lambda _: False)
    assert repairer.repair("市项") == ("市项", [])


def test_fuzzy_syllables_merge_southern_confusions() -> None:
    assert fuzzy_syllable("zhi") == fuzzy_syllable("zi")
    assert fuzzy_syllable("jing") == fuzzy_syllable("jin")
    assert fuzzy_syllable("lan") == fuzzy_syllable("nan")
    assert fuzzy_syllable("bao") != fuzzy_syllable("bo")
