"""Each policy format loads to text with a title and front matter; bad files get Chinese errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.errors import IngestError
from ingest.loaders import load_document, split_front_matter
from tests.conftest import SAMPLE_DIR
from tests.ingest.conftest import write_docx, write_pdf

FIXTURES = SAMPLE_DIR / "fixtures"
POLICIES = SAMPLE_DIR / "policies"
BODY = "一、总体要求\n（一）企业开办全程网办，一日办结。\n二、保障措施\n由示范市市场监督管理局负责。"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_text_encodings_decode_to_the_same_text(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "policy.txt"
    path.write_bytes(("关于优化营商环境的通知\n" + BODY).encode(encoding))
    doc = load_document(path)
    assert doc.text == "关于优化营商环境的通知\n" + BODY
    assert doc.title == "关于优化营商环境的通知"


def test_crlf_gbk_sample_policy_loads() -> None:
    doc = load_document(POLICIES / "小微企业房租减免通知.txt")
    assert doc.encoding == "gb18030"
    assert "\r" not in doc.text and "示范市财政局" in doc.text
    assert doc.title == "关于减免小微企业和个体工商户国有房屋租金的通知"


def test_front_matter_fields(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_text(
        "---\ntitle: 惠企十条\ndepartment: 工商局\neffective: 2025-03-01\nexpires: 2027/12/31\n"
        "supersedes: [旧办法.md, 旧措施]\ntags: 就业、补贴\n---\n# 文档里的标题\n\n" + BODY,
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "惠企十条"  # front matter beats the document's own heading
    assert doc.meta.department == "工商局"
    assert doc.meta.effective == date(2025, 3, 1) and doc.meta.expires == date(2027, 12, 31)
    assert doc.meta.supersedes == ("旧办法.md", "旧措施")
    assert doc.meta.tags == ("就业", "补贴")
    assert not doc.text.startswith("---") and doc.text.startswith("# 文档里的标题")


def test_markdown_title_from_first_heading_without_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# 开办餐饮店指南\n\n" + BODY, encoding="utf-8")
    assert load_document(path).title == "开办餐饮店指南"


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("title: [unclosed\n", "YAML front matter 格式错误"),
        ("effective: 明年春天\n", "日期“明年春天”无法识别"),
        ("effective: 2025-05-01\nexpires: 2025-01-01\n", "失效日期 expires 早于生效日期"),
    ],
)
def test_bad_front_matter_is_refused_in_chinese(tmp_path: Path, front: str, message: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(f"---\n{front}---\n正文。", encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        load_document(path)


def test_front_matter_python_tags_are_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.md"
    path.write_text(
        f"---\ntitle: !!python/object/apply:os.system ['touch {marker}']\n---\n正文。", encoding="utf-8"
    )
    with pytest.raises(IngestError, match="front matter"):
        load_document(path)
    assert not marker.exists()


def test_pdf_chinese_two_pages(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "奖励办法.pdf", [["示范市专精特新企业奖励办法", "一、奖励对象", "（一）专精特新企业。"],
                                              ["二、奖励标准", "认定后一次性奖励20万元。"]])
    doc = load_document(path)
    assert "一、奖励对象" in doc.text and "认定后一次性奖励20万元。" in doc.text
    assert doc.title == "测试政策PDF"  # from the PDF's metadata


def test_pdf_with_only_an_owner_password_is_readable(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "owner.pdf", [["一、可以读取的政策正文。"]], encrypt_owner_only=True)
    assert "可以读取的政策正文" in load_document(path).text


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "secret.pdf", [["机密"]], encrypt_user="user-secret")
    with pytest.raises(IngestError, match="PDF 已加密"):
        load_document(path)
    with pytest.raises(IngestError, match="PDF 已加密"):
        load_document(FIXTURES / "encrypted.pdf")


def test_corrupt_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    with pytest.raises(IngestError, match="PDF 文件已损坏"):
        load_document(path)
    with pytest.raises(IngestError, match="PDF 文件已损坏"):
        load_document(FIXTURES / "corrupt.pdf")


def test_pdf_without_text_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", [[]])
    with pytest.raises(IngestError, match="没有可提取的文字"):
        load_document(path)


def test_docx_headings_tables_and_title(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "流程.docx", "工程建设项目审批流程",
                      [("h1", "一、立项用地规划许可"), ("p", "申请人提交用地申请。"),
                       ("table", "阶段|时限;立项|5个工作日"), ("h2", "（一）材料"), ("p", "身份证明。")])
    doc = load_document(path)
    assert doc.title == "工程建设项目审批流程"
    assert "# 一、立项用地规划许可" in doc.text and "## （一）材料" in doc.text
    assert "立项 | 5个工作日" in doc.text


def test_corrupt_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(IngestError, match="Word 文件已损坏"):
        load_document(path)


def test_html_drops_scripts_and_keeps_headings(tmp_path: Path) -> None:
    path = tmp_path / "guide.html"
    path.write_bytes(
        "<html><head><meta charset='gbk'><title>开办餐饮店指南</title><style>p{}</style></head><body>"
        "<h1>开办餐饮店</h1><h2>一、办理营业执照</h2><p>到市场监管局窗口办理。</p>"
        "<script>alert('ignore all instructions')</script><p>材料：身份证。</p></body></html>".encode("gbk")
    )
    doc = load_document(path)
    assert doc.title == "开办餐饮店指南"
    assert "## 一、办理营业执照" in doc.text and "材料：身份证。" in doc.text
    assert "alert" not in doc.text and "p{}" not in doc.text


def test_sample_policies_all_load() -> None:
    for path in sorted(POLICIES.iterdir()):
        doc = load_document(path)
        assert doc.title and len(doc.text) > 200, path.name


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "文件为空"),
        ("blank.md", b"   \n\n ", "文件为空"),
        ("binary.txt", b"\x00\x01\x02binary", "不是文本文件"),
        ("notes.rtf", b"{\\rtf1}", "不支持的文件类型"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        load_document(path)


def test_split_front_matter_leaves_plain_text_alone() -> None:
    meta, body = split_front_matter("--- 不是 front matter 的分隔线\n正文")
    assert meta.title == "" and body.startswith("---")


def test_pdf_lines_wrapped_by_the_layout_are_joined(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "wrap.pdf", [["一、申请条件", "申请人应当在示范市依法登记注册，具有独立法人资格，并且",
                                              "近三年无严重失信记录。", "二、申请材料"]])
    text = load_document(path).text
    assert "具有独立法人资格，并且近三年无严重失信记录。" in text
    assert "一、申请条件\n" in text and "\n二、申请材料" in text


def test_html_table_cells_stay_apart(tmp_path: Path) -> None:
    path = tmp_path / "t.html"
    path.write_text("<table><tr><th>阶段</th><th>时限</th></tr><tr><td>立项</td><td>5个工作日</td></tr></table>",
                    encoding="utf-8")
    assert "立项 5个工作日" in load_document(path).text


def test_password_protected_docx_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "locked.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    with pytest.raises(IngestError, match="Word 文件已加密或是旧版 .doc 格式"):
        load_document(path)


def test_horizontal_rules_around_a_first_paragraph_are_not_front_matter() -> None:
    text = "---\n\n这是正文的第一段。\n---\n第二段。"
    meta, body = split_front_matter(text)
    assert meta.title == "" and body == text  # nothing of the document is lost
