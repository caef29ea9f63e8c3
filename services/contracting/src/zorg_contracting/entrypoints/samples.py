"""Follow-format e-mails for the demo, the tests and the benchmark: an .xlsx, a .csv or body lines."""

from __future__ import annotations

import io
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape

import openpyxl  # type: ignore[import-untyped]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GLI_TARIFFS: list[tuple[str, str, str]] = [
    ("GLI-INTAKE", "Intake", "€ 81,93"),
    ("GLI-TREATMENT-Q", "Behandelfase, per kwartaal", "€ 193,80"),
    ("GLI-MAINTENANCE-Q", "Onderhoudsfase, per kwartaal", "€ 98,29"),
]


def format_fields(
    agb: str,
    name: str,
    kvk: str,
    *,
    contact: str | None = "contracten@zorggroep.example",
    uzovi: str = "3358",
    sector: str = "GLI",
    start: str = "01-01-2023",
    end: str = "31-12-2023",
    programmes: str = "Cool, SLIMMER",
    signed_on: str = "03-10-2022",
    signatory: str = "A. de Boer, bestuurder",
) -> list[tuple[str, str | None]]:
    return [
        ("AGB-code", agb),
        ("KvK-nummer", kvk),
        ("Naam", name),
        ("E-mail contactpersoon", contact),
        ("Preferente verzekeraar", "Zilveren Kruis"),
        ("UZOVI preferente verzekeraar", uzovi),
        ("Sector", sector),
        ("Ingangsdatum", start),
        ("Einddatum", end),
        ("Programma's", programmes),
        ("Datum ondertekening preferente verzekeraar", signed_on),
        ("Ondertekenaar", signatory),
    ]


def xlsx_bytes(fields: Sequence[tuple[str, object]], tariffs: Sequence[tuple[object, object, object]]) -> bytes:
    """A workbook as a spreadsheet program writes it; a text starting with `=` becomes a formula (no stored value)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Volgformat"
    for label, value in fields:
        sheet.append([label, value])
    sheet.append([])
    sheet.append(["Prestatiecode", "Omschrijving", "Tarief"])
    for row in tariffs:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(
    fields: Sequence[tuple[str, object]], tariffs: Sequence[tuple[object, object, object]], *, encoding: str = "utf-8"
) -> bytes:
    lines = [f"{label};{'' if value is None else value}" for label, value in fields]
    lines += ["", "Prestatiecode;Omschrijving;Tarief"]
    lines += [";".join("" if c is None else str(c) for c in row) for row in tariffs]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def body_html(fields: Sequence[tuple[str, object]], tariffs: Sequence[tuple[object, object, object]]) -> str:
    """The same lines as Outlook's HTML mail has them: a paragraph per line, a table of tariffs, entities."""

    def outlook(value: object) -> str:
        text = escape("" if value is None else str(value), quote=False)
        return text.replace("€ ", "&euro;&nbsp;").replace("'", "&#8217;")

    lines = "".join(f"<p class=MsoNormal>{outlook(label)}: {outlook(value)}</p>" for label, value in fields)
    rows = "".join(f"<tr><td>Tarief {outlook(code)}: {outlook(amount)}</td></tr>" for code, _, amount in tariffs)
    return (
        "<html><head><meta charset='utf-8'></head><body><p>Geachte heer/mevrouw,</p>"
        f"{lines}<table>{rows}</table><p>Met vriendelijke groet</p></body></html>"
    )


def body_text(fields: Sequence[tuple[str, object]], tariffs: Sequence[tuple[object, object, object]]) -> str:
    lines = [f"{label}: {'' if value is None else value}" for label, value in fields]
    lines += [f"Tarief {code}: {amount}" for code, _, amount in tariffs]
    return "Geachte heer/mevrouw,\n\nHierbij ons volgformat.\n\n" + "\n".join(lines) + "\n\nMet vriendelijke groet\n"


def mail(
    *,
    sender: str | None = "info@zorggroep.example",
    subject: str = "Volgformat GLI 2023",
    body: str | None = "Geachte heer/mevrouw,\n\nIn de bijlage ons ingevulde volgformat.\n\nMet vriendelijke groet\n",
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    message_id: str | None = "auto",
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """An e-mail to the contracts mailbox; ``message_id=None`` leaves the header out.

    With ``html`` the body is multipart/alternative as Outlook writes it (``body`` None: HTML only);
    ``headers`` are added as given (e.g. ``Authentication-Results`` as a receiving server writes it).
    """
    message = EmailMessage()
    for name, value in headers:
        message[name] = value
    if sender:
        message["From"] = sender
    message["To"] = "zorg.overeenkomsten@zorginkoop.example"
    message["Subject"] = subject
    if message_id == "auto":
        message["Message-ID"] = make_msgid(domain="zorggroep.example")
    elif message_id:
        message["Message-ID"] = message_id
    message["Date"] = "Mon, 03 Oct 2022 10:00:00 +0200"
    if body is not None:
        message.set_content(body)
    if html is not None:
        if body is None:
            message.set_content(html, subtype="html")
            message.make_alternative()
        else:
            message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def xlsx_mail(
    agb: str,
    name: str,
    kvk: str,
    *,
    message_id: str | None = "auto",
    sender: str | None = "info@zorggroep.example",
    **fields: str | None,
) -> bytes:
    data = xlsx_bytes(format_fields(agb, name, kvk, **fields), GLI_TARIFFS)  # type: ignore[arg-type]
    return mail(
        sender=sender,
        subject=f"Volgformat GLI 2023 {name}",
        attachments=[("volgformat.xlsx", XLSX, data)],
        message_id=message_id,
    )
