"""The push vocabulary: reading `applies_to`, proposing an audience from text, and matching profiles."""

from __future__ import annotations

from knowledge.audience import Audience, Profile, match, parse_applies_to, propose_audience


def test_push_applies_to_reads_aliases_and_chinese_keys() -> None:
    parsed = parse_applies_to({"行业": "餐饮、零售", "sizes": ["小微企业"], "tags": ["高企", "个体户"]})
    assert parsed.audience.industries == ("住宿和餐饮业", "批发和零售业")
    assert parsed.audience.sizes == ("微型", "小型")
    assert parsed.audience.tags == ("高新技术企业", "个体工商户")
    assert parsed.unknown == []


def test_push_applies_to_keeps_unknown_names_as_written_and_reports_them() -> None:
    parsed = parse_applies_to({"industries": ["美食"], "tags": ["独角兽"], "colour": "red"})
    assert "行业“美食”" in parsed.unknown and "标签“独角兽”" in parsed.unknown
    assert any("colour" in u for u in parsed.unknown)
    # Kept, so the audience is no wider than meant: nobody's profile says 美食.
    assert parsed.audience.industries == ("美食",)
    assert match(parsed.audience, Profile(industry="住宿和餐饮业")) is None


def test_push_applies_to_checks_districts_only_when_the_city_lists_them() -> None:
    assert parse_applies_to({"districts": "东城"}, ["东城区", "西山县"]).audience.districts == ("东城区",)
    assert parse_applies_to({"districts": "南湖区"}, ["东城区"]).unknown == ["区县“南湖区”"]
    assert parse_applies_to({"districts": "南湖区"}).audience.districts == ("南湖区",)


def test_push_a_size_written_as_a_tag_counts_as_sizes() -> None:
    parsed = parse_applies_to({"tags": ["小微企业", "专精特新"]})
    assert parsed.audience.sizes == ("微型", "小型")
    assert parsed.audience.tags == ("专精特新",)


def test_push_applies_to_that_is_not_a_mapping_is_reported() -> None:
    assert parse_applies_to("餐饮").unknown
    assert parse_applies_to(None).unknown == []


def test_push_match_is_and_across_dimensions_and_or_within() -> None:
    audience = Audience(industries=("住宿和餐饮业", "批发和零售业"), sizes=("小型", "微型"))
    assert match(audience, Profile("住宿和餐饮业", "小型")) == ["行业=住宿和餐饮业", "规模=小型"]
    assert match(audience, Profile("批发和零售业", "微型")) is not None
    assert match(audience, Profile("住宿和餐饮业", "大型")) is None
    assert match(audience, Profile("制造业", "小型")) is None


def test_push_an_empty_profile_field_does_not_match_a_restricted_dimension() -> None:
    assert match(Audience(sizes=("小型",)), Profile(industry="制造业")) is None
    assert match(Audience(), Profile()) == []  # an audience for everyone


def test_push_tags_match_when_any_is_shared() -> None:
    audience = Audience(tags=("高新技术企业", "专精特新"))
    assert match(audience, Profile(tags=("专精特新", "外贸企业"))) == ["标签=专精特新"]
    assert match(audience, Profile(tags=("外贸企业",))) is None


def test_push_proposal_reads_industries_sizes_tags_and_districts_from_text() -> None:
    text = ("为支持东城区住宿和餐饮业小微企业发展，对餐饮企业给予房租减免；餐饮企业中的高新技术企业另有奖励。")
    proposed = propose_audience(text, ["东城区", "西山县"])
    assert proposed.audience.industries == ("住宿和餐饮业",)
    assert set(proposed.audience.sizes) == {"微型", "小型"}
    assert proposed.audience.tags == ("高新技术企业",)
    assert proposed.audience.districts == ("东城区",)
    assert "小微企业" in proposed.evidence["小型"]


def test_push_proposal_ignores_a_list_of_many_industries_and_passing_mentions() -> None:
    many = "适用于制造业、建筑业、批发和零售业、住宿和餐饮业、软件和信息技术服务业等各类企业。"
    assert propose_audience(many).audience.industries == ()
    once = "企业可通过餐饮外卖平台申请。"  # 餐饮 once, two characters: not evidence
    assert propose_audience(once).audience.industries == ()


def test_push_proposal_does_not_read_common_policy_words_as_industries() -> None:
    text = ("企业为职工缴纳社会保险的给予补贴；开展职业技能培训的给予培训补贴；研发费用加计扣除；"
            "按房屋租赁合同的建筑面积计算房租补贴；社会保险补贴与培训补贴可叠加享受。")
    assert propose_audience(text).audience.industries == ()
