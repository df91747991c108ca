"""Generate the .docx templates of the letters (Decree 30/2020 layout) with python-docx.

Run `python templates/docx/make_templates.py` after changing this script; the .docx files it
writes are committed and are what dondoc renders (a clerk may also edit them in Word or
LibreOffice directly). Jinja tags follow docxtpl: `{{ … }}` in a run, `{%p … %}` alone in a
paragraph, `{%tr … %}` alone in a table row. Every name and every sentence that depends on
the plan is a variable: nothing agency-specific is written here.
"""
from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Mm, Pt

HERE = Path(__file__).resolve().parent
FONT = "Times New Roman"
TEXT_WIDTH = Mm(210 - 30 - 15)


def new_document() -> Document:
    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin = Mm(20), Mm(20)
    sec.left_margin, sec.right_margin = Mm(30), Mm(15)
    sec.header_distance = Mm(10)
    for style in doc.styles:
        if style.type == 1 or style.name in ("Normal", "Table Grid"):
            try:
                _font(style.font, style.element)
            except AttributeError:
                pass
    normal = doc.styles["Normal"]
    normal.font.size = Pt(14)
    pf = normal.paragraph_format
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(0), 1.0
    _page_number_header(doc)
    return doc


KEEP_STYLES = {"Normal", "Default Paragraph Font", "Normal Table", "No List", "Table Grid", "Header",
               "Header Char", "Footer", "Footer Char"}


def slim(doc) -> None:
    """Drop what python-docx's default template carries and a letter never uses (about
    800 KB of latent and table styles, a thumbnail): each letter is then a few KB to zip."""
    styles = doc.styles.element
    for el in styles.findall(qn("w:latentStyles")):
        styles.remove(el)
    for st in list(styles.findall(qn("w:style"))):
        name = st.find(qn("w:name"))
        if name is None or name.get(qn("w:val")) not in {n.lower() for n in KEEP_STYLES} | KEEP_STYLES:
            styles.remove(st)
    for rels in (doc.part.rels, doc.part.package.rels):
        for rid, rel in list(rels.items()):
            if rel.reltype.endswith(("/stylesWithEffects", "/thumbnail", "/customXml")):
                del rels[rid]


def _font(font, element) -> None:
    font.name = FONT
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:cstheme", "w:eastAsiaTheme"):
        fonts.attrib.pop(qn(attr), None)
    color = rpr.find(qn("w:color"))
    if color is not None:
        color.set(qn("w:val"), "000000")
        color.attrib.pop(qn("w:themeColor"), None)


def _page_number_header(doc) -> None:
    """A centred PAGE field in the top margin, none on page 1 (a different first page)."""
    sec = doc.sections[0]
    sec.different_first_page_header_footer = True
    p = sec.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run()
    run.font.size = Pt(13)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "2"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text.strip() == "PAGE":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        else:
            el = OxmlElement("w:t")
            el.text = text
        run._r.append(el)


def para(container, text="", *, size=14, bold=False, italic=False, align="justify", indent=True,
         after=6, before=0, keep=False):
    p = container.add_paragraph()
    p.alignment = {"justify": WD_ALIGN_PARAGRAPH.JUSTIFY, "center": WD_ALIGN_PARAGRAPH.CENTER,
                   "left": WD_ALIGN_PARAGRAPH.LEFT, "right": WD_ALIGN_PARAGRAPH.RIGHT}[align]
    pf = p.paragraph_format
    pf.space_after, pf.space_before = Pt(after), Pt(before)
    pf.line_spacing = 1.15 if align == "justify" else 1.0
    if indent and align == "justify":
        pf.first_line_indent = Cm(1.27)
    if keep:
        pf.keep_with_next = True
    if text:
        run = p.add_run(text)
        run.font.size, run.font.bold, run.font.italic = Pt(size), bold, italic
    return p


def rule_under(p, indent_mm: float) -> None:
    """A short solid rule under a centred paragraph: an empty 2 pt paragraph after it whose
    bottom border is shortened by indenting both sides (the text itself keeps its width)."""
    after = p.paragraph_format.space_after
    p.paragraph_format.space_after = Pt(0)
    rule = OxmlElement("w:p")
    p._p.addnext(rule)
    from docx.text.paragraph import Paragraph
    p = Paragraph(rule, p._parent)
    p.paragraph_format.left_indent = p.paragraph_format.right_indent = Mm(indent_mm)
    p.paragraph_format.space_before, p.paragraph_format.space_after = Pt(0), after
    p.paragraph_format.line_spacing = Pt(3)
    ppr = p._p.get_or_add_pPr()
    bdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    bdr.append(bottom)
    ppr.append(bdr)


def two_columns(doc, left_mm: float, rows: int = 1, *, right_mm: float | None = None, outdent_mm: float = 0):
    """A borderless table of two columns whose grid widths are set (LibreOffice reads those,
    not the cell widths), rows that never split across pages, 1 mm cell margins. `outdent_mm`
    moves the table that far into the left margin (the header is wider than the text)."""
    table = doc.add_table(rows=rows, cols=2)
    table.autofit = False
    right = Mm(right_mm) if right_mm is not None else Emu(TEXT_WIDTH - Mm(left_mm))
    widths = (Mm(left_mm), right)
    for i, w in enumerate(widths):
        table.columns[i].width = w
        for cell in table.columns[i].cells:
            cell.width = w
    tblpr = table._tbl.tblPr
    _child(tblpr, "w:tblW", TBLPR, **{"w:w": str(sum(w.twips for w in widths)), "w:type": "dxa"})
    _child(tblpr, "w:tblInd", TBLPR, **{"w:w": str(-Mm(outdent_mm).twips), "w:type": "dxa"})
    mar = _child(tblpr, "w:tblCellMar", TBLPR)
    for side in ("left", "right"):
        _child(mar, f"w:{side}", ("w:top", "w:left", "w:bottom", "w:right"),
               **{"w:w": str(Mm(1).twips), "w:type": "dxa"})
    for row in table.rows:
        _cant_split(row)
    for cell in table._cells:  # drop the empty paragraph python-docx puts in each cell (fill_cells puts one back)
        cell._tc.remove(cell.paragraphs[0]._p)
    return table


TBLPR = ("w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize", "w:tblStyleColBandSize",
         "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar",
         "w:tblLook")
TRPR = ("w:cnfStyle", "w:divId", "w:gridBefore", "w:gridAfter", "w:wBefore", "w:wAfter", "w:cantSplit",
        "w:trHeight", "w:tblHeader", "w:tblCellSpacing", "w:jc", "w:hidden")


def _child(parent, tag: str, order: tuple[str, ...], **attrs):
    """The `tag` child of `parent` (created where the schema `order` puts it), with `attrs` set."""
    el = parent.find(qn(tag))
    if el is None:
        el = OxmlElement(tag)
        later = [c for c in parent if c.tag in {qn(t) for t in order[order.index(tag) + 1:]}]
        if later:
            later[0].addprevious(el)
        else:
            parent.append(el)
    for k, v in attrs.items():
        el.set(qn(k), v)
    return el


def _cant_split(row) -> None:
    _child(row._tr.get_or_add_trPr(), "w:cantSplit", TRPR)


def fill_cells(doc) -> None:
    """Every table cell holds at least one paragraph (a cell without one is an invalid .docx)."""
    for tc in doc.element.body.iter(qn("w:tc")):
        if tc.find(qn("w:p")) is None:
            tc.append(OxmlElement("w:p"))


def phrased(var: str, width: int | None = None) -> str:
    """`var` cut at a phrase boundary by dondoc's `phrase_lines` filter; as it is under an
    environment without that filter (a bench, a clerk's own tooling)."""
    f = f"phrase_lines({width})" if width else "phrase_lines"
    return f'{{% if "phrase_lines" is filter %}}{{{{ {var}|{f} }}}}{{% else %}}{{{{ {var} }}}}{{% endif %}}'


def header_block(doc, number_line: str, subject_line: str | None) -> None:
    """Parent and issuing body, Quốc hiệu and Tiêu ngữ, number, V/v and the date line."""
    # 78 mm holds "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" (74 mm in 12 pt bold) on one line, 94 mm the
    # Quốc hiệu (88 mm); a longer name is cut at a phrase boundary by the `phrase_lines` filter.
    t = two_columns(doc, 78, rows=2, right_mm=94, outdent_mm=5)
    left, right = t.cell(0, 0), t.cell(0, 1)
    para(left, phrased("issuer.parent"), size=12, align="center", after=0)
    rule_under(para(left, phrased("issuer.name"), size=12, bold=True, align="center", after=4), 20)
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True, align="center", after=0)
    rule_under(para(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True, align="center", after=4), 18)
    left, right = t.cell(1, 0), t.cell(1, 1)
    para(left, number_line, size=13, align="center", after=0, before=4)
    if subject_line:
        para(left, subject_line, size=12, align="center", after=0, before=6)
    para(right, "{{ issuer.place }}, {{ date_line }}", size=14, italic=True, align="center", after=0, before=4)


def signature_block(doc, recipients: bool = True) -> None:
    """Nơi nhận (left) and the signing authority, title, space for the signature and the name
    (right), in one row that cannot split; every paragraph keeps with the next, so the block
    never breaks across pages. The body's closing paragraph keeps with it (see `closing`)."""
    t = two_columns(doc, 80)
    left, right = t.cell(0, 0), t.cell(0, 1)
    if recipients:
        para(left, "Nơi nhận:", size=12, bold=True, italic=True, align="left", after=0, before=6)
        para(left, "{%p for r in recipients %}", size=11, align="left", after=0)
        para(left, "{{ r }}", size=11, align="left", after=0)
        para(left, "{%p endfor %}", size=11, align="left", after=0)
    para(right, "{{ signature.authority }}", size=14, bold=True, align="center", after=0, before=6)
    para(right, phrased("signature.title", 26), size=14, bold=True, align="center", after=0)
    for _ in range(4):
        para(right, "", align="center", after=0)
    para(right, "{{ signature.name }}", size=14, bold=True, align="center", after=0)
    for p in t.cell(0, 0).paragraphs[:-1] + t.cell(0, 1).paragraphs[:-1]:
        p.paragraph_format.keep_with_next = True


def closing(doc, text: str):
    """The body's last paragraph: it keeps with the signature block, so the page that holds
    the signature also holds the end of the body; with no widow or orphan line."""
    p = para(doc, text, keep=True)
    p.paragraph_format.widow_control = True
    return p


def body(doc, paragraphs: list[str]) -> None:
    for text in paragraphs:
        para(doc, text)


def task_paragraphs(doc) -> None:
    para(doc, "{%p for t in task_paragraphs %}")
    para(doc, "{{ t }}", italic=True)
    para(doc, "{%p endfor %}")


NUMBER = "Số: {{ number_line }}"


def cited(type_: str, title: str) -> str:
    """A document cited in running text: its type capitalised, its title's first letter in lower
    case unless the title opens with an acronym ("Kế hoạch truyền thông về Chương trình …")."""
    return ("{{ " + type_ + "|capitalize }} {{ " + title + "[:1]|lower if " + title + "[1:2].islower() else "
            + title + "[:1] }}{{ " + title + "[1:] }}")


PLAN = cited("plan.type", "plan.title")
MANY = "{% if tasks|length > 1 %}{{ loop.index }}. {% endif %}"
REPLY = ("Cơ quan, đơn vị gửi báo cáo bằng cách trả lời thư điện tử chuyển văn bản này (giữ nguyên tiêu đề thư)"
         "{% if tasks|selectattr('indicators')|list %}, đính kèm phiếu số liệu của từng nhiệm vụ đã điền đầy đủ"
         "{% endif %}; hoặc gửi về địa chỉ thư điện tử {{ issuer.email }}.")
CONTACT = ("Mọi chi tiết xin liên hệ {{ issuer.division_name }}, {{ issuer.short_name }}"
           "{% if issuer.phone %}, điện thoại {{ issuer.phone }}{% endif %}./.")
ASKED = ("Thực hiện " + PLAN + ", {{ issuer.short_name }} đã {{ verb }} {{ who }} báo cáo "
         "kết quả thực hiện nhiệm vụ được giao. Đến ngày {{ letter_date }}, {{ issuer.short_name }} "
         "{{ 'vẫn chưa' if stage != 'reminder' else 'chưa' }} nhận được báo cáo của {{ who }} về "
         "{{ 'các nội dung' if tasks|length > 1 else 'nội dung' }} sau:")
TASK_LINE = (MANY + "{{ t.title|capitalize_first }} (đã {{ verb }} tại {{ t.request }}), hạn gửi trước ngày "
             "{{ t.deadline }}{% if stage == 'overdue' %}, đã quá hạn {{ t.overdue_days }} ngày làm việc{% endif %}"
             "{% if t.units_text %}: {{ t.units_text }}{% endif %}.")

# Each stage's body: a string is a paragraph, ("tasks", …) the loop over the tasks it covers.
LETTERS = {
    "request": [
        "Thực hiện {{ plan.implements }}; {{ issuer.short_name }} đã ban hành " + PLAN +
        "{% if plan.number %} (số {{ plan.number }}){% endif %}.",
        "Để có cơ sở tổng hợp, báo cáo {{ plan.report_to }}, {{ issuer.short_name }} {{ verb }} {{ who }} báo cáo "
        "kết quả thực hiện {{ 'các nhiệm vụ' if tasks|length > 1 else 'nhiệm vụ' }} sau, theo nội dung kế hoạch:",
        ("tasks", MANY + "{{ t.title|capitalize_first }}{% if t.units_text %} ({{ t.units_text }}){% endif %}, "
                  "hạn gửi trước ngày {{ t.deadline }}. Kế hoạch nêu:", True),
        "Báo cáo gửi về {{ issuer.short_name }} trước thời hạn nêu trên.",
        REPLY, CONTACT],
    "reminder": [
        ASKED, ("tasks", TASK_LINE, False),
        "{{ issuer.short_name }} {{ verb }} {{ who }} quan tâm, gửi báo cáo đúng thời hạn để "
        "{{ issuer.short_name }} kịp tổng hợp, báo cáo {{ plan.report_to }}.",
        REPLY, CONTACT],
    "urging": [
        ASKED, ("tasks", TASK_LINE, False),
        "{{ issuer.short_name }} {{ verb }} Thủ trưởng {{ who }} quan tâm chỉ đạo bộ phận liên quan khẩn trương "
        "hoàn thành, gửi báo cáo đúng thời hạn; quá thời hạn trên, {{ issuer.short_name }} sẽ báo cáo Lãnh đạo "
        "danh sách các cơ quan, đơn vị chưa gửi báo cáo.",
        REPLY, CONTACT],
    "overdue": [
        ASKED, ("tasks", TASK_LINE, False),
        "{{ issuer.short_name }} {{ verb }} {{ who }} gửi báo cáo ngay. Trường hợp đã gửi báo cáo bằng văn bản giấy "
        "hoặc qua hệ thống quản lý văn bản, đề nghị trả lời thư điện tử chuyển văn bản này để "
        "{{ issuer.short_name }} cập nhật.",
        REPLY, CONTACT],
}


def kinh_gui(doc, one: str, many: str) -> None:
    """`Kính gửi: X.` on one centred line, or `Kính gửi:` over a list of lines `- X;`…`- Y.`
    (the `many` list variable)."""
    para(doc, "{%p if " + many + "|length == 1 %}")
    para(doc, "Kính gửi: " + one + ".", align="center", after=12, before=12)
    para(doc, "{%p else %}")
    para(doc, "Kính gửi:", align="center", after=0, before=12)
    para(doc, "{%p for a in " + many + " %}")
    p = para(doc, "- {{ a }}{% if loop.last %}.{% else %};{% endif %}", align="left", indent=False, after=0)
    p.paragraph_format.left_indent = Cm(4)
    para(doc, "{%p endfor %}")
    para(doc, "", after=6)
    para(doc, "{%p endif %}")


def letter(stage: str) -> Document:
    """The one công văn of a stage and day: addressed to every unit concerned, covering every
    task due for them; an appendix lists the units when they are too many for Kính gửi."""
    doc = new_document()
    header_block(doc, NUMBER, "V/v {{ subject }}")
    kinh_gui(doc, "{{ addressees[0] }}", "addressees")
    *texts, last = LETTERS[stage]
    for text in texts:
        if isinstance(text, tuple):
            _, line, quote = text
            para(doc, "{%p for t in tasks %}")
            para(doc, line)
            if quote:
                para(doc, "{%p for q in t.paragraphs %}")
                para(doc, "“{{ q }}”", italic=True)
                para(doc, "{%p endfor %}")
            para(doc, "{%p endfor %}")
        else:
            para(doc, text)
    closing(doc, last)
    signature_block(doc)
    para(doc, "{%p if appendix %}")
    p = para(doc, "PHỤ LỤC", bold=True, align="center", after=0, keep=True)
    p.paragraph_format.page_break_before = True
    para(doc, "Danh sách cơ quan, đơn vị nhận văn bản", bold=True, align="center", after=0, keep=True)
    para(doc, "(Kèm theo Công văn số {{ number_line }} {{ date_line }} của {{ issuer.short_name }})",
         italic=True, align="center", after=6, keep=True)
    table(doc, ["STT", "Cơ quan, đơn vị", "Nội dung báo cáo"], [14, 70, 81],
          ["{{ loop.index }}", "{{ u.name }}", "{{ u.tasks|capitalize_first }}"], "for u in appendix", size=12,
          center=(0,))
    para(doc, "{%p endif %}")
    return doc


def escalation() -> Document:
    """The internal memo of the drafting division to the leader: per task, the units still
    missing with their contacts and what was sent; the drafts waiting to be signed."""
    doc = new_document()
    header_block(doc, NUMBER, None)
    para(doc, "BÁO CÁO", size=14, bold=True, align="center", before=12, after=0)
    rule_under(para(doc, "Tình hình các cơ quan, đơn vị chưa gửi báo cáo", size=14, bold=True, align="center",
                    after=12), 55)
    para(doc, "Kính gửi: {{ addressee }}.", align="center", after=12)
    para(doc, "Đến ngày {{ letter_date }}, {{ division }} tổng hợp các cơ quan, đơn vị chưa gửi báo cáo theo các "
              "kế hoạch đang theo dõi như sau:")
    para(doc, "{%p for t in items %}")
    para(doc, "{{ loop.index }}. {{ t.title|capitalize_first }} ({{ t.plan }}), hạn gửi trước ngày {{ t.deadline }}: "
              "còn {{ t.missing|length }}/{{ t.asked }} đơn vị chưa gửi.", keep=True)
    table(doc, ["STT", "Đơn vị", "Liên hệ", "Đã gửi"], [12, 44, 72, 37],
          ["{{ loop.index }}", "{{ m.name }}", "{{ m.contact }}", "{{ m.history }}"], "for m in t.missing", size=11,
          center=(0,))
    para(doc, "", after=0)
    para(doc, "{%p endfor %}")
    para(doc, "{%p if drafts %}")
    para(doc, "Văn bản đã trình ký quá 2 ngày làm việc chưa ban hành (các đơn vị chưa nhận được):", keep=True)
    para(doc, "{%p for d in drafts %}")
    para(doc, "- {{ d }}")
    para(doc, "{%p endfor %}")
    para(doc, "{%p endif %}")
    closing(doc, "{{ division }} kính báo cáo {{ addressee_short }} xem xét, chỉ đạo./.")
    signature_block(doc)
    return doc


def _tag_row(table, text):
    from copy import deepcopy
    row = deepcopy(table.rows[0]._tr)
    trpr = row.find(qn("w:trPr"))
    if trpr is not None:
        row.remove(trpr)
    cells = row.findall(qn("w:tc"))
    for tc in cells[1:]:
        row.remove(tc)
    tc = cells[0]
    for p in tc.findall(qn("w:p"))[1:]:
        tc.remove(p)
    p = tc.find(qn("w:p"))
    for r in p.findall(qn("w:r")):
        p.remove(r)
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = text
    r.append(t)
    p.append(r)
    return row


def _repeat_header(row) -> None:
    _child(row._tr.get_or_add_trPr(), "w:tblHeader", TRPR)


FORM_GUIDE = ("Đơn vị ghi ngắn gọn vào các ô trống: đã làm gì, ở đâu, bao nhiêu (vài câu mỗi ô); nội dung nào "
              "chưa thực hiện thì để trống. Giữ nguyên các mã trong ngoặc vuông [ ] để Sở tổng hợp tự động.")


def answer_rows(t, height_mm: float) -> None:
    """Rows of a form table (after its header) at least `height_mm` tall: room to write in Word."""
    for row in t.rows[1:]:
        _child(row._tr.get_or_add_trPr(), "w:trHeight", TRPR, **{"w:val": str(Mm(height_mm).twips),
                                                                   "w:hRule": "atLeast"})


def _grid(t, widths_mm: list[float]) -> None:
    """A bordered table's style and its column widths, set on every cell (Word reads those)."""
    t.style = t.part.document.styles["Table Grid"]
    for i, w in enumerate(widths_mm):
        t.columns[i].width = Mm(w)
        for c in t.columns[i].cells:
            c.width = Mm(w)


def fixed_table(doc, rows: list[list[str]], widths_mm: list[float], size: int = 13, bold_first: bool = True):
    """A bordered table of fixed rows (no loop): the first row a header (bold, centred), the first
    column bold when `bold_first`; a "\n" in a cell starts a paragraph of its own (a marker then
    never breaks across lines)."""
    t = doc.add_table(rows=len(rows), cols=len(widths_mm))
    _grid(t, widths_mm)
    for r, cells in enumerate(rows):
        _cant_split(t.rows[r])
        for i, text in enumerate(cells):
            cell = t.cell(r, i)
            for k, line in enumerate(text.split("\n")):
                p = cell.paragraphs[0] if k == 0 else cell.add_paragraph()
                run = p.add_run(line)
                run.font.size, run.font.bold = Pt(size), r == 0 or (bold_first and i == 0)
                if r == 0:
                    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return t


def reply_form() -> Document:
    """The form a unit fills in (about ten minutes) and sends back; the collector reads its tables
    (models/form.py, models/inbound.read_indicators): per content item of the task what the unit
    did (rows marked `[nd:ID]`), the task's indicators (rows marked `[id]`, the value in the 4th
    cell), the difficulties (`[kho-khan]`) and proposals (`[de-xuat]`)."""
    doc = new_document()
    para(doc, "PHIẾU BÁO CÁO KẾT QUẢ THỰC HIỆN", size=14, bold=True, align="center", after=0)
    para(doc, "{{ task.title|capitalize_first }}", size=13, bold=True, align="center", after=6)
    para(doc, "Mã: {{ tag }}", size=12, align="left", indent=False, after=0)
    para(doc, "Đơn vị báo cáo: {{ unit.name }}", size=13, align="left", after=0)
    para(doc, "Người lập: ............................................  Điện thoại: ...........................",
         size=13, align="left", after=4)
    para(doc, FORM_GUIDE, size=12, italic=True, after=6)
    para(doc, "{%p if items %}", size=2, after=0)
    heading(doc, "I. KẾT QUẢ THỰC HIỆN THEO NỘI DUNG CỦA KẾ HOẠCH")
    t = table(doc, ["STT", "Nội dung của kế hoạch", "Kết quả thực hiện của đơn vị"], [12, 66, 87],
              ["{{ loop.index }}", "{{ c.text }} [nd:{{ c.id }}]", ""], "for c in items", size=12)
    answer_rows(t, 22)
    para(doc, "{%p endif %}", size=2, after=0)
    para(doc, "{%p if indicators %}", size=2, after=0)
    heading(doc, "{% if items %}II{% else %}I{% endif %}. SỐ LIỆU")
    para(doc, "Mỗi ô ghi một số; số ước tính ghi “khoảng …”; tỷ lệ ghi dạng 87,5%.", size=12, italic=True, after=4)
    table(doc, ["STT", "Chỉ tiêu", "Đơn vị tính", "Số lượng"], [12, 93, 35, 25],
          ["{{ loop.index }}", "{{ i.name }} [{{ i.id }}]",
           "{{ i.unit }}{% if i.kind == 'decimal' %} (có thể ghi số lẻ){% endif %}", ""],
          "for i in indicators", size=12, right=(3,))
    para(doc, "{%p endif %}", size=2, after=0)
    heading(doc, "{{ ['I', 'II', 'III'][(items|length > 0) + (indicators|length > 0)] }}. "
                 "KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT")
    t = fixed_table(doc, [["Nội dung", "Ý kiến của đơn vị"], ["Khó khăn, vướng mắc\n[kho-khan]", ""],
                          ["Đề xuất, kiến nghị\n[de-xuat]", ""]], [50, 115], size=12)
    _repeat_header(t.rows[0])
    answer_rows(t, 22)
    return doc


def table(doc, headers: list[str], widths_mm: list[float], cells: list[str], loop: str, size: int = 12,
          nowrap: tuple[int, ...] = (), right: tuple[int, ...] = (), center: tuple[int, ...] = ()):
    """A bordered table: a header row repeated on every page, one templated row repeated by `loop`,
    rows that never split across pages; the columns in `nowrap` never wrap (dates), those in
    `right` are right-aligned (numbers), those in `center` centred (a row number)."""
    t = doc.add_table(rows=2, cols=len(headers))
    _grid(t, widths_mm)
    for i, h in enumerate(headers):
        p = t.cell(0, i).paragraphs[0]
        r = p.add_run(h)
        r.font.bold, r.font.size = True, Pt(size)
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _repeat_header(t.rows[0])
    _cant_split(t.rows[0])
    row = t.rows[1]
    _cant_split(row)
    for i, text in enumerate(cells):
        r = row.cells[i].paragraphs[0].add_run(text)
        r.font.size = Pt(size)
        if i in nowrap:
            row.cells[i]._tc.get_or_add_tcPr().append(OxmlElement("w:noWrap"))
            row.cells[i].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        if i in right:
            row.cells[i].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if i in center:
            row.cells[i].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    # docxtpl's row loop: the opening and closing tags sit in rows of their own
    row._tr.addprevious(_tag_row(t, f"{{%tr {loop} %}}"))
    row._tr.addnext(_tag_row(t, "{%tr endfor %}"))
    return t


def heading(doc, text: str) -> None:
    para(doc, text, bold=True, align="left", indent=False, before=6, keep=True)


def report() -> Document:
    """The yearly report the deputy director signs: BÁO CÁO, sections I–III, an appendix."""
    doc = new_document()
    header_block(doc, "Số: {{ number }}/BC-{{ issuer.code }}", None)
    para(doc, "BÁO CÁO", size=14, bold=True, align="center", before=18, after=0)
    rule_under(para(doc, "Kết quả thực hiện " + cited("plan.type", "title"), size=14,
                    bold=True, align="center", after=12), 55)
    para(doc, "Căn cứ {{ plan.implements }};")
    para(doc, "Thực hiện " + PLAN + "{% if plan.number %} (số {{ plan.number }}){% endif %}, "
              "{{ issuer.short_name }} báo cáo kết quả thực hiện {{ period_text }} như sau:")
    heading(doc, "I. KẾT QUẢ THỰC HIỆN")
    para(doc, "{%p for item in items %}")
    para(doc, "{{ loop.index }}. {{ item.text }}", italic=True, keep=True)
    para(doc, "{%p for w in item.words %}")
    para(doc, "- {{ w.unit }}: “{{ w.text }}”{% if w.detail %} {{ w.detail }}{% endif %}")
    para(doc, "{%p endfor %}")
    para(doc, "{%p if not item.words %}")
    para(doc, "{{ item.none }}")
    para(doc, "{%p endif %}")
    para(doc, "{%p endfor %}")
    para(doc, "{%p if untracked %}")
    para(doc, "Các nhiệm vụ không theo dõi qua hệ thống {{ untracked_when }} (kỳ báo cáo đã bắt đầu trước khi "
              "hệ thống được đưa vào sử dụng; kết quả tổng hợp theo văn bản giấy):", keep=True)
    para(doc, "{%p for u in untracked %}")
    para(doc, "- {{ u }}.")
    para(doc, "{%p endfor %}")
    para(doc, "{%p endif %}")
    para(doc, "{%p if total_tables %}")
    para(doc, "Tổng hợp số liệu từ báo cáo của các đơn vị, theo từng nhiệm vụ (số liệu không cộng giữa các "
              "nhiệm vụ; mỗi đơn vị tính theo báo cáo gửi sau cùng):", keep=True)
    para(doc, "{%p for g in total_tables %}")
    para(doc, "{{ g.letter }}) {{ g.task[:1]|upper }}{{ g.task[1:] }}:", italic=True, keep=True, before=4)
    table(doc, ["STT", "Chỉ tiêu", "Đơn vị tính", "Tổng số", "Số báo cáo"], [12, 62, 30, 40, 21],
          ["{{ loop.index }}", "{{ t.name }}", "{{ t.unit }}", "{{ t.total }}", "{{ t.reports }}"],
          "for t in g.rows", right=(3, 4))
    para(doc, "{%p endfor %}")
    para(doc, "{%p if estimated %}")
    para(doc, "(*) Có số liệu do đơn vị ghi ước tính (“khoảng …”, “hơn …”): tổng số đó là số ước tính.",
         size=12, italic=True, before=4)
    para(doc, "{%p endif %}")
    para(doc, "{%p endif %}")
    para(doc, "{%p if parts %}")
    para(doc, "Các kỳ báo cáo trong {{ period_text }} (tính riêng, không cộng vào số liệu trên):", keep=True, before=6)
    table(doc, ["Kỳ", "Nhiệm vụ", "Được đề nghị", "Đúng hạn", "Trễ hạn", "Chưa báo cáo"], [30, 63, 20, 18, 18, 16],
          ["{{ p.period }}", "{{ p.task }}", "{{ p.asked }}", "{{ p.on_time }}", "{{ p.late }}", "{{ p.missing }}"],
          "for p in parts", right=(2, 3, 4, 5))
    para(doc, "{%p endif %}")
    heading(doc, "II. ĐÁNH GIÁ")
    para(doc, "1. Tình hình báo cáo", italic=True, keep=True)
    para(doc, "{{ issuer.short_name }} đã đề nghị {{ asked }} lượt báo cáo của {{ units }} đơn vị. Kết quả: "
              "{{ on_time }} báo cáo đúng hạn ({{ pct.on_time }}); {{ late }} báo cáo trễ hạn ({{ pct.late }}); "
              "{{ missing }} chưa báo cáo ({{ pct.missing }}){% if early %}; {{ early }} báo cáo gửi trước khi "
              "sự kiện kết thúc, chưa tính là đã báo cáo{% endif %}{% if exempt %}; {{ exempt }} lượt được miễn"
              "{% endif %}.")
    para(doc, "Theo nhóm đơn vị:", keep=True)
    table(doc, ["Nhóm đơn vị", "Được đề nghị", "Đúng hạn", "Trễ hạn", "Chưa báo cáo", "Tỷ lệ đúng hạn"],
          [55, 22, 20, 20, 24, 24],
          ["{{ g.name }}", "{{ g.asked }}", "{{ g.on_time }}", "{{ g.late }}", "{{ g.missing }}", "{{ g.pct }}"],
          "for g in groups", right=(1, 2, 3, 4, 5))
    para(doc, "{%p if chart is defined and chart %}")
    para(doc, "Biểu đồ tỷ lệ báo cáo theo nhóm đơn vị:", keep=True, before=6)
    para(doc, "{{ chart }}", align="center", after=6)
    para(doc, "{%p endif %}")
    para(doc, "{%p if late_names %}", before=6)
    para(doc, "Các đơn vị báo cáo trễ hạn: {{ late_names|join(', ') }}.")
    para(doc, "{%p endif %}")
    para(doc, "{%p if missing_names %}")
    para(doc, "Các đơn vị chưa báo cáo: {{ missing_names|join(', ') }}.")
    para(doc, "{%p endif %}")
    para(doc, "{%p if early_names %}")
    para(doc, "Các đơn vị gửi báo cáo trước khi sự kiện kết thúc (chưa tính là đã báo cáo, số liệu không được "
              "tổng hợp; đề nghị gửi lại kết quả sau sự kiện): {{ early_names|join('; ') }}.")
    para(doc, "{%p endif %}")
    para(doc, "2. Khó khăn, vướng mắc", italic=True, keep=True, before=6)
    para(doc, "{%p for d in difficulties %}")
    para(doc, "- {{ d.unit }}: {{ d.text }}")
    para(doc, "{%p endfor %}")
    para(doc, "{%p if not difficulties %}")
    para(doc, "Các đơn vị không nêu khó khăn, vướng mắc.")
    para(doc, "{%p endif %}")
    heading(doc, "III. KIẾN NGHỊ, ĐỀ XUẤT")
    para(doc, "{%p if unit_proposals %}")
    para(doc, "1. Đề xuất của các đơn vị", italic=True, keep=True)
    para(doc, "{%p for p in unit_proposals %}")
    para(doc, "- {{ p.unit }}: {{ p.text }}")
    para(doc, "{%p endfor %}")
    para(doc, "2. Kiến nghị của {{ issuer.short_name }}", italic=True, keep=True, before=6)
    para(doc, "{%p endif %}")
    para(doc, "{%p for p in proposals %}")
    para(doc, "{{ p }}")
    para(doc, "{%p endfor %}")
    closing(doc, "Trên đây là báo cáo kết quả thực hiện {{ period_text }} của {{ issuer.short_name }}./.")
    signature_block(doc)
    appendix_section(doc)
    para(doc, "PHỤ LỤC", bold=True, align="center", before=0, after=0, keep=True)
    para(doc, "Tình hình báo cáo của các đơn vị {{ period_text }}", bold=True, align="center", after=0, keep=True)
    para(doc, "(Kèm theo Báo cáo số {{ number }}/BC-{{ issuer.code }} {{ date_line }} của {{ issuer.short_name }})",
         italic=True, align="center", after=6, keep=True)
    # landscape text width: 297 - 30 - 15 = 252 mm
    table(doc, ["STT", "Đơn vị", "Nhiệm vụ", "Ngày nhận", "Tình trạng", "Chỉ tiêu", "Tệp đính kèm"],
          [12, 56, 50, 24, 28, 52, 30],
          ["{{ loop.index }}", "{{ r.unit_name }}", "{{ r.task_title }}", "{{ r.received }}", "{{ r.word }}",
           "{{ r.indicators }}", "{{ r.files }}"], "for r in rows", size=11, nowrap=(3,))
    para(doc, "", size=2, after=0, indent=False).paragraph_format.line_spacing = Pt(2)
    return doc


def appendix_section(doc) -> None:
    """A landscape section of its own, on a new page, for the wide appendix table; same margins,
    its pages numbered in the same header (no different first page)."""
    sec = doc.add_section(WD_SECTION.NEW_PAGE)
    brk = doc.paragraphs[-1]   # the paragraph that ends the portrait section: 1 pt, so it never takes a page
    brk.paragraph_format.space_before = brk.paragraph_format.space_after = Pt(0)
    brk.paragraph_format.line_spacing = Pt(1)
    rpr = OxmlElement("w:rPr")
    sz = OxmlElement("w:sz")
    sz.set(qn("w:val"), "2")
    rpr.append(sz)
    brk._p.pPr.find(qn("w:sectPr")).addprevious(rpr)   # the paragraph mark's run properties
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Mm(297), Mm(210)
    sec.different_first_page_header_footer = False


def main() -> None:
    docs = {stage: letter(stage) for stage in LETTERS}
    docs |= {"escalation": escalation(), "reply-form": reply_form(), "report": report()}
    for name, doc in docs.items():
        slim(doc)
        fill_cells(doc)
        doc.save(HERE / f"{name}.docx")


if __name__ == "__main__":
    main()
