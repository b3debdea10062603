"""Rendered copies of a controlled document: Markdown, DOCX (python-docx) and PDF (fpdf2).

Every format carries the same content: the tenant's name (branding) and the document header (number,
title, version, status, effective date, template), a machine-drafted notice where one applies, the fields
and sections, the regulatory requirements the template satisfies, and the signature manifestation block
(§11.50: printed name, UTC date and time, meaning; plus whether each signature still verifies against this
content, and the content's SHA-256). A copy that is not effective says so on its face.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["RenderedDocument", "to_docx", "to_markdown", "to_pdf"]

MEANINGS = {
    "authored": "Authored - I am the author of this document",
    "reviewed": "Reviewed - I have reviewed this document",
    "approved": "Approved - I approve this document",
}


@dataclass
class SignatureLine:
    printed_name: str
    title: str | None
    meaning: str
    signed_at: datetime
    version: str
    valid: bool


@dataclass
class RenderedDocument:
    organisation: str
    footer: str | None
    number: str
    title: str
    version: str
    status: str
    effective_at: datetime | None
    template_name: str
    template_id: str
    template_version: int
    content_sha256: str
    fields: list[tuple[str, str]]  # (label, value)
    sections: list[tuple[str, str, bool]]  # (title, text, machine drafted)
    requirements: list[str]
    signatures: list[SignatureLine] = field(default_factory=list)
    rendered_at: datetime | None = None

    @property
    def header_lines(self) -> list[tuple[str, str]]:
        return [
            ("Document number", self.number),
            ("Title", self.title),
            ("Version", self.version),
            ("Status", self.status.replace("_", " ").upper()),
            ("Effective date", utc(self.effective_at) if self.effective_at else "Not effective"),
            ("Template", f"{self.template_name} ({self.template_id} v{self.template_version})"),
        ]

    @property
    def control_notice(self) -> str | None:
        if self.status == "effective":
            return None
        return f"This copy is {self.status.replace('_', ' ').upper()}: not an effective controlled document."

    @property
    def drafted(self) -> bool:
        return any(d for _, _, d in self.sections)


def utc(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def signature_rows(doc: RenderedDocument) -> list[list[str]]:
    return [
        [
            s.printed_name + (f", {s.title}" if s.title else ""),
            MEANINGS.get(s.meaning, s.meaning),
            utc(s.signed_at),
            s.version,
            "valid" if s.valid else "NOT VALID - content changed after signing",
        ]
        for s in doc.signatures
    ]


SIGNATURE_HEADER = ["Printed name", "Meaning", "Date and time (UTC)", "Version signed", "Verification"]


# --- Markdown -----------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Escape what would change Markdown structure; the text stays readable."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def to_markdown(doc: RenderedDocument) -> str:
    lines = [f"# {_md(doc.organisation)}", "", f"## {_md(doc.number)}: {_md(doc.title)}", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {k} | {_md(v)} |" for k, v in doc.header_lines]
    lines.append("")
    if doc.control_notice:
        lines += [f"> **{doc.control_notice}**", ""]
    if doc.drafted:
        lines += [
            "> **Contains machine-drafted text (marked below) not yet edited or approved by a person.**",
            "",
        ]
    if doc.fields:
        lines += ["### Details", ""]
        lines += [f"- **{_md(label)}:** {_md(value)}" for label, value in doc.fields]
        lines.append("")
    for title, text, drafted in doc.sections:
        lines += [f"### {_md(title)}" + (" *(machine-drafted)*" if drafted else ""), ""]
        lines += [_md(text) if text.strip() else "*(not written)*", ""]
    lines += ["### Regulatory requirements addressed", ""]
    lines += [f"- {_md(r)}" for r in doc.requirements] or ["- none listed"]
    lines += ["", "### Electronic signatures (21 CFR 11.50)", ""]
    if doc.signatures:
        lines += ["| " + " | ".join(SIGNATURE_HEADER) + " |", "|" + "---|" * len(SIGNATURE_HEADER)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in signature_rows(doc)]
    else:
        lines.append("No signatures.")
    lines += ["", f"Content SHA-256: `{doc.content_sha256}`"]
    if doc.rendered_at:
        lines.append(f"Rendered {utc(doc.rendered_at)}")
    if doc.footer:
        lines += ["", _md(doc.footer)]
    return "\n".join(lines) + "\n"


# --- DOCX ---------------------------------------------------------------------------------------------------


def to_docx(doc: RenderedDocument) -> bytes:
    from docx import Document
    from docx.shared import Pt

    word = Document()
    section = word.sections[0]
    header = section.header.paragraphs[0]
    header.text = f"{doc.organisation}  |  {doc.number}  |  Version {doc.version}  |  {doc.status.upper()}"
    if doc.footer or doc.rendered_at:
        footer_text = " | ".join(
            t for t in (doc.footer, f"Rendered {utc(doc.rendered_at)}" if doc.rendered_at else None) if t
        )
        section.footer.paragraphs[0].text = footer_text
    word.add_heading(doc.organisation, level=0)
    word.add_heading(f"{doc.number}: {doc.title}", level=1)
    table = word.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in doc.header_lines:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = key, value
    if doc.control_notice:
        word.add_paragraph().add_run(doc.control_notice).bold = True
    if doc.drafted:
        word.add_paragraph().add_run(
            "Contains machine-drafted text (marked below) not yet edited or approved by a person."
        ).italic = True
    if doc.fields:
        word.add_heading("Details", level=2)
        for label, value in doc.fields:
            paragraph = word.add_paragraph(style="List Bullet")
            paragraph.add_run(f"{label}: ").bold = True
            paragraph.add_run(value)
    for title, text, drafted in doc.sections:
        word.add_heading(title + (" (machine-drafted)" if drafted else ""), level=2)
        word.add_paragraph(text if text.strip() else "(not written)")
    word.add_heading("Regulatory requirements addressed", level=2)
    for requirement in doc.requirements or ["none listed"]:
        word.add_paragraph(requirement, style="List Bullet")
    word.add_heading("Electronic signatures (21 CFR 11.50)", level=2)
    if doc.signatures:
        sigs = word.add_table(rows=1, cols=len(SIGNATURE_HEADER))
        sigs.style = "Table Grid"
        for cell, text in zip(sigs.rows[0].cells, SIGNATURE_HEADER, strict=True):
            cell.text = text
        for row in signature_rows(doc):
            for cell, text in zip(sigs.add_row().cells, row, strict=True):
                cell.text = text
    else:
        word.add_paragraph("No signatures.")
    run = word.add_paragraph().add_run(f"Content SHA-256: {doc.content_sha256}")
    run.font.size = Pt(8)
    word.core_properties.title = f"{doc.number} {doc.title}"[:255]
    word.core_properties.subject = f"Version {doc.version} ({doc.status})"
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------------------------


def _latin(text: str) -> str:
    """The PDF's core fonts cover Latin-1; anything else prints as '?' rather than failing the render."""
    replaced = (
        text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'").replace("\u201c", '"')
    )
    return replaced.replace("\u201d", '"').encode("latin-1", "replace").decode("latin-1")


def to_pdf(doc: RenderedDocument) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    organisation, number, version, status = (
        _latin(doc.organisation),
        _latin(doc.number),
        doc.version,
        doc.status,
    )
    footer_text = _latin(doc.footer or "")

    class Copy(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "B", 9)
            self.cell(0, 5, organisation, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_font("Helvetica", "", 8)
            self.cell(
                0,
                5,
                f"{number}  |  Version {version}  |  {status.upper()}",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", "", 7)
            self.cell(0, 5, f"{footer_text}  Page {self.page_no()} of {{nb}}".strip(), align="C")

    pdf = Copy(format="A4")
    pdf.set_title(f"{number} {_latin(doc.title)}"[:200])
    pdf.set_author(organisation)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def para(text: str, size: int = 10, style: str = "") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, 5, _latin(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    para(organisation, 16, "B")
    para(f"{doc.number}: {doc.title}", 13, "B")
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=(35, 135), text_align="LEFT") as table:
        for key, value in doc.header_lines:
            row = table.row()
            row.cell(key)
            row.cell(_latin(value))
    pdf.ln(3)
    if doc.control_notice:
        para(doc.control_notice, 10, "B")
    if doc.drafted:
        para("Contains machine-drafted text (marked below) not yet edited or approved by a person.", 9, "I")
    if doc.fields:
        para("Details", 12, "B")
        for label, value in doc.fields:
            para(f"{label}: {value}", 9)
        pdf.ln(2)
    for title, text, drafted in doc.sections:
        para(title + (" (machine-drafted)" if drafted else ""), 12, "B")
        para(text if text.strip() else "(not written)", 10)
        pdf.ln(2)
    para("Regulatory requirements addressed", 12, "B")
    para(", ".join(doc.requirements) or "none listed", 9)
    pdf.ln(3)
    para("Electronic signatures (21 CFR 11.50)", 12, "B")
    if doc.signatures:
        pdf.set_font("Helvetica", "", 8)
        with pdf.table(col_widths=(38, 45, 33, 14, 40), text_align="LEFT") as table:
            head = table.row()
            for text in SIGNATURE_HEADER:
                head.cell(text)
            for values in signature_rows(doc):
                row = table.row()
                for text in values:
                    row.cell(_latin(text))
    else:
        para("No signatures.", 9)
    pdf.ln(2)
    para(f"Content SHA-256: {doc.content_sha256}", 7)
    if doc.rendered_at:
        para(f"Rendered {utc(doc.rendered_at)}", 7)
    return bytes(pdf.output())
