"""Regenerate the demo city's generated files (binary formats and GBK-encoded text).

Run from anywhere: `.venv/bin/python data/sample/make_binary_samples.py`. Output is deterministic
apart from timestamps that openpyxl/python-docx/reportlab embed, so re-running only changes metadata.

Writes:
  directory/services.xlsx                 service items from services_data.py
  policies/工程建设项目审批流程.docx        python-docx, Heading styles for 一、（一）
  policies/示范市专精特新企业奖励办法.pdf    reportlab CID font STSong-Light
  policies/小微企业房租减免通知.txt          GBK, CRLF, no front matter
  fixtures/departments_gbk.csv, fixtures/policy_gbk.txt   GBK test inputs
  fixtures/sample.pdf, fixtures/encrypted.pdf, fixtures/corrupt.pdf
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import services_data  # noqa: E402  (sibling data module, path set above)

DIRECTORY = HERE / "directory"
POLICIES = HERE / "policies"
FIXTURES = HERE / "fixtures"


# --------------------------------------------------------------------------- xlsx


def make_services_xlsx() -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "事项清单"
    ws.append(services_data.HEADERS)
    for row in services_data.rows():
        ws.append(row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [34, 26, 40, 60, 24, 60, 16, 50, 40, 16, 40]
    for i, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    wb.save(DIRECTORY / "services.xlsx")


# --------------------------------------------------------------------------- docx

ENGINEERING_TITLE = "示范市工程建设项目审批流程（社会投资项目）"
# (level, text): level 0 = title, 1 = 一、 heading, 2 = （一） heading, None = body paragraph
ENGINEERING: list[tuple[int | None, str]] = [
    (0, ENGINEERING_TITLE),
    (None, "示范市政务服务数据管理局　2025年5月"),
    (None, "为落实工程建设项目审批制度改革要求，实现社会投资项目“拿地即开工、竣工即投产”，现将我市工程建设项目审批流程公布如下。项目单位可到市政务服务中心B区3楼工程建设项目审批专区（31—38号窗口）咨询，电话0740-81232002。"),
    (1, "一、审批阶段划分"),
    (None, "工程建设项目审批全流程划分为立项用地规划许可、工程建设许可、施工许可、竣工验收四个阶段。每个阶段由一个牵头部门组织协调，实行“一家牵头、一窗受理、并联审批、限时办结”。"),
    (2, "（一）立项用地规划许可阶段"),
    (None, "1. 牵头部门：示范市自然资源和规划局。"),
    (None, "2. 主要事项：企业投资项目备案（示范市发展和改革委员会，在线即时办结）；建设用地规划许可证核发；用地批准。"),
    (None, "3. 时限：不超过5个工作日。"),
    (2, "（二）工程建设许可阶段"),
    (None, "1. 牵头部门：示范市自然资源和规划局。"),
    (None, "2. 主要事项：设计方案审查；建设工程规划许可证核发；建设项目环境影响评价文件审批（示范市生态环境局，可提前并行办理）。"),
    (None, "3. 时限：不超过10个工作日；社会投资简易低风险项目不超过5个工作日。"),
    (2, "（三）施工许可阶段"),
    (None, "1. 牵头部门：示范市住房和城乡建设局。"),
    (None, "2. 主要事项：特殊建设工程消防设计审查；建筑工程施工许可证核发；城市道路挖掘和临时占用审批；建筑垃圾处置核准。"),
    (None, "3. 时限：不超过10个工作日。施工图审查实行告知承诺，企业承诺后即可申请施工许可。"),
    (2, "（四）竣工验收阶段"),
    (None, "1. 牵头部门：示范市住房和城乡建设局。"),
    (None, "2. 主要事项：规划条件核实、消防验收、人防备案、档案验收等实行联合验收，一次性出具联合验收意见书；竣工验收备案。"),
    (None, "3. 时限：不超过10个工作日。"),
    (1, "二、社会投资简易低风险项目"),
    (None, "地上建筑面积不大于10000平方米、建筑高度不大于24米、功能单一、技术要求简单的普通仓库和厂房，实行“一次申报、一次审查、一证发放”，全流程审批时间不超过15个工作日，免收城市基础设施配套费以外的全部审批服务费用。"),
    (1, "三、服务保障"),
    (None, "1. 帮办代办：重点项目由企业服务专员全程帮办代办，免费提供申报辅导。"),
    (None, "2. 一次告知：各阶段所需材料在“示范市工程建设项目审批管理系统”一次性公布，窗口不得要求提交清单以外的材料。"),
    (None, "3. 问题反映：审批过程中遇到部门推诿、超期未办的，可到市政务服务中心A区1楼“办不成事”反映窗口反映，电话0740-81231001。"),
]


def make_engineering_docx() -> None:
    from docx import Document

    doc = Document()
    doc.core_properties.title = ENGINEERING_TITLE
    doc.core_properties.author = "示范市政务服务数据管理局"
    for level, text in ENGINEERING:
        if level is None:
            doc.add_paragraph(text)
        else:
            doc.add_heading(text, level=level)
    doc.save(POLICIES / "工程建设项目审批流程.docx")


# --------------------------------------------------------------------------- pdf


def _write_cid_pdf(path: Path, title: str, lines: list[str]) -> None:
    """A Chinese PDF with reportlab's built-in CID font (no font file needed)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    c.setTitle(title)
    width, height = A4
    left, top, bottom, size, leading = 60, height - 70, 60, 11, 19
    per_line = int((width - 2 * left) // size)

    def new_page() -> float:
        c.setFont("STSong-Light", size)  # the font must be set again on every page
        return top

    y = top
    c.setFont("STSong-Light", 16)
    c.drawCentredString(width / 2, y, title)
    y -= 36
    c.setFont("STSong-Light", size)
    for line in lines:
        chunks = [line[i : i + per_line] for i in range(0, len(line), per_line)] or [""]
        for chunk in chunks:
            if y < bottom:
                c.showPage()
                y = new_page()
            c.drawString(left, y, chunk)
            y -= leading
    c.save()


ZJTX_TITLE = "示范市专精特新中小企业奖励办法"
ZJTX = [
    "示工信发〔2025〕6号",
    "为加快培育专精特新中小企业，推动中小企业走“专业化、精细化、特色化、新颖化”发展道路，制定本办法。",
    "一、奖励对象",
    "（一）在示范市依法登记注册、具有独立法人资格的中小企业。",
    "（二）申报年度内未发生重大安全、质量、环境污染事故，未被列入严重失信主体名单。",
    "二、奖励标准",
    "（一）首次被认定为国家级专精特新“小巨人”企业的，一次性奖励50万元。",
    "（二）首次被认定为省级专精特新中小企业的，一次性奖励20万元。",
    "（三）首次被评价为创新型中小企业的，一次性奖励5万元。",
    "（四）同一企业晋级的，按差额给予奖励，不重复享受。",
    "三、兑现方式",
    "1. 奖励资金实行“免申即享”，示范市工业和信息化局根据认定公告确定名单，会同示范市财政局直接拨付，无需企业申请。",
    "2. 企业可在“示范惠企通”平台查询兑现进度，咨询电话0740-81247001（示范市工业和信息化局中小企业科）。",
    "四、附则",
    "本办法自2025年7月1日起施行，有效期至2028年6月30日，由示范市工业和信息化局负责解释。",
]

SAMPLE_PDF_TITLE = "示范市个体工商户扶持办法（测试样本）"
SAMPLE_PDF = [
    "一、扶持对象",
    "在示范市登记注册、正常经营的个体工商户。",
    "二、扶持措施",
    "（一）个体工商户首次招用员工并缴纳社会保险的，给予每人1000元一次性补贴。",
    "（二）个体工商户申请创业担保贷款的，由示范市人力资源和社会保障局受理。",
    "三、附则",
    "本办法由示范市市场监督管理局负责解释。",
]


def make_pdfs() -> None:
    from pypdf import PdfReader, PdfWriter

    _write_cid_pdf(POLICIES / "示范市专精特新企业奖励办法.pdf", ZJTX_TITLE, ZJTX)
    _write_cid_pdf(FIXTURES / "sample.pdf", SAMPLE_PDF_TITLE, SAMPLE_PDF)

    # Encrypted with a non-empty user password, so it cannot be opened without it. RC4 is the
    # algorithm pypdf can write without the optional `cryptography` package.
    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "sample.pdf"))
    writer.encrypt(user_password="shifan-secret", owner_password="shifan-owner", algorithm="RC4-128")
    with open(FIXTURES / "encrypted.pdf", "wb") as fh:
        writer.write(fh)

    # A PDF header followed by garbage: looks like a PDF by its magic bytes, parses as nothing.
    rng = random.Random(20250101)
    (FIXTURES / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + bytes(rng.getrandbits(8) for _ in range(4096)))


# --------------------------------------------------------------------------- GBK text

RENT_NOTICE = """关于减免小微企业和个体工商户国有房屋租金的通知

示财发〔2025〕31号

各县（区）财政局，市直各单位，各市属国有企业：

为进一步帮助服务业小微企业和个体工商户纾困解难，经市人民政府同意，现就减免国有房屋租金有关事项通知如下。

一、减免对象

（一）承租行政事业单位和市属国有企业经营性房屋的服务业小微企业和个体工商户。

（二）小微企业按照《中小企业划型标准规定》确定；个体工商户以营业执照登记信息为准。

（三）转租、分租国有房屋的，减免租金应当全部惠及最终承租人，不得截留。

二、减免标准

（一）2026年内减免3个月租金。

（二）承租房屋位于市人民政府确定的受自然灾害影响区域的，2026年内减免6个月租金。

（三）已经预缴租金的，在后续租期内抵扣；租期届满不再续租的，据实退还。

三、办理程序

1. 承租人向出租单位提交减免申请、营业执照和租赁合同，出租单位自收到申请之日起10个工作日内办结。

2. 出租单位对减免情况进行公示，公示期不少于5个工作日。

3. 出租单位在当年度决算和国有资产报告中如实反映租金减免情况。

四、监督管理

（一）示范市财政局负责行政事业单位房屋租金减免的统筹协调和监督检查，并会同市国有资产监督管理部门督促市属国有企业落实。

（二）承租人对减免有异议，或出租单位逾期不办的，可向示范市财政局经济建设科反映（电话0740-81258001），也可到市政务服务中心A区1楼“办不成事”反映窗口反映。

五、施行时间

本通知自2026年1月1日起施行，有效期至2026年12月31日。

示范市财政局
2025年12月20日
"""

POLICY_GBK = """示范市关于支持夜间经济发展的通知

一、总体要求

支持餐饮、零售、文化娱乐场所延长营业时间，繁荣夜间消费。

二、支持措施

（一）在示范市城市管理和综合执法局划定的区域内，允许临时外摆经营，每日18时至次日1时。

（二）夜间经营的餐饮店仍须持有有效的食品经营许可证。

三、咨询

示范市商务局商贸流通科，电话0740-81246003。
"""

GBK_DEPARTMENTS = [
    ["name", "aliases", "functions", "section", "section_duties", "contact", "phone", "address", "hours"],
    ["示范市市场监督管理局", "工商局、市场监管局、质监局", "市场主体登记注册；食品经营许可", "登记注册科",
     "企业、个体工商户登记", "李娜", "0740-81233001", "示范市新城区市民大道88号市民中心A区2楼", "周一至周五 9:00-17:30"],
    ["示范市市场监督管理局", "工商局、市场监管局、质监局", "市场主体登记注册；食品经营许可", "食品经营许可科",
     "食品经营许可核发", "赵强", "0740-81233002", "示范市新城区市民大道88号市民中心A区2楼", "周一至周五 9:00-17:30"],
    ["国家税务总局示范市税务局", "国税、地税、税务所", "税收征收管理", "纳税服务科",
     "发票领用、纳税申报辅导", "卫东", "0740-81234001", "示范市新城区市民大道88号市民中心A区3楼", "周一至周五 9:00-17:30"],
    ["示范市生态环境局", "环保局", "环境影响评价审批；排污许可", "环境影响评价与排放管理科",
     "环评审批、排污许可证核发", "华磊", "0740-81240001", "示范市新城区市民大道88号市民中心B区3楼", "周一至周五 9:00-17:30"],
]


def make_gbk_files() -> None:
    (POLICIES / "小微企业房租减免通知.txt").write_bytes(RENT_NOTICE.replace("\n", "\r\n").encode("gbk"))
    (FIXTURES / "policy_gbk.txt").write_bytes(POLICY_GBK.encode("gbk"))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(GBK_DEPARTMENTS)
    (FIXTURES / "departments_gbk.csv").write_bytes(buf.getvalue().encode("gbk"))


def main() -> None:
    for folder in (DIRECTORY, POLICIES, FIXTURES):
        folder.mkdir(parents=True, exist_ok=True)
    make_services_xlsx()
    make_engineering_docx()
    make_pdfs()
    make_gbk_files()
    generated = [p for p in sorted(HERE.rglob("*")) if p.suffix in {".xlsx", ".docx", ".pdf"} or "gbk" in p.name
                 or p.name == "小微企业房租减免通知.txt"]
    print("regenerated:", ", ".join(str(p.relative_to(HERE)) for p in generated))

if __name__ == "__main__":
    main()
