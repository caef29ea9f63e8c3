"""Reading a raw e-mail (standard library `email`, policy.default): Message-ID, sender, and the format in it."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

from ..domain.follow_format import Problem, RawForm, form_from_rows, form_from_text
from .spreadsheet import Unreadable, read_csv, read_xlsx

log = logging.getLogger(__name__)

ARCHIVES = (".zip", ".rar", ".7z", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".arj", ".cab")
MACRO_BOOKS = (".xlsm", ".xlsb", ".xls", ".xltm")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$")


@dataclass
class ParsedMail:
    message_id: str
    message_id_derived: bool
    sender: str | None
    subject: str | None
    form: RawForm | None = None
    problems: list[Problem] = field(default_factory=list)


def derived_message_id(raw: bytes) -> str:
    return f"<sha256-{hashlib.sha256(raw).hexdigest()}@derived.zorginkoop>"


def message_key(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode("utf-8", errors="replace")).hexdigest()


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # a header so broken the parser gives up on it
        return None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def envelope_of(raw: bytes) -> tuple[str, bool, str | None, str | None]:
    """Message-ID (derived from the bytes when missing), whether derived, the sender, the subject."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    except Exception:
        return derived_message_id(raw), True, None, None
    message_id = _header(msg, "Message-ID")
    if message_id is not None:
        message_id = message_id[:998]
    sender = None
    from_header = _header(msg, "From")
    if from_header:
        try:
            addresses = [a for _, a in getaddresses([from_header]) if _EMAIL.match(a or "")]
        except Exception:
            addresses = []
        sender = addresses[0][:320] if addresses else None
    subject = _header(msg, "Subject")
    return (message_id or derived_message_id(raw)), message_id is None, sender, subject[:500] if subject else None


def read_mail(raw: bytes, attachment_max_bytes: int) -> ParsedMail:
    """The format from the e-mail: an .xlsx or .csv attachment, else `Label: value` lines in the body."""
    message_id, derived, sender, subject = envelope_of(raw)
    parsed = ParsedMail(message_id, derived, sender, subject)
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        _read_parts(msg, parsed, attachment_max_bytes)
    except Exception as exc:  # a hostile message must end in a clear outcome, never a crash
        log.warning("e-mail %s could not be read: %r", message_id, exc)
        parsed.form = None
        parsed.problems = [Problem("e-mail", "the message cannot be read (damaged or not an e-mail)")]
    return parsed


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return "(unnamed)"
    return str(name)[:200] if name else None


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _body_text(part: EmailMessage) -> str:
    data = _payload(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    if part.get_content_subtype() == "html":
        text = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", text, flags=re.IGNORECASE)
        text = re.sub(r"<[^>]+>", " ", text)
    return text


def _read_parts(msg: EmailMessage, parsed: ParsedMail, limit: int) -> None:
    formats: list[tuple[str, RawForm]] = []
    attempted: list[Problem] = []  # spreadsheets or archives we could not use
    ignored: list[Problem] = []  # other attachments: only a problem when no format was found
    bodies: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = _filename(part)
        disposition = part.get_content_disposition()
        if name is None and disposition != "attachment":
            if part.get_content_maintype() == "text":
                bodies.append(_body_text(part))  # type: ignore[arg-type]
            continue
        name = name or "(unnamed)"
        lower = name.lower()
        where = f"bijlage {name}"
        data = _payload(part)
        if lower.endswith(ARCHIVES) or part.get_content_type() in ("application/zip", "application/x-zip-compressed"):
            attempted.append(Problem(where, "archives are not opened; attach the .xlsx or .csv itself"))
        elif lower.endswith(MACRO_BOOKS):
            attempted.append(Problem(where, "spreadsheets with macros or in the old format are refused; send .xlsx"))
        elif lower.endswith((".xlsx", ".csv")):
            if len(data) > limit:
                attempted.append(Problem(where, f"is {len(data):,} bytes; the limit is {limit:,}"))
                continue
            try:
                rows = read_xlsx(data) if lower.endswith(".xlsx") else read_csv(data)
            except Unreadable as exc:
                attempted.append(Problem(where, str(exc)))
                continue
            form = form_from_rows(rows)
            if form.empty:
                attempted.append(Problem(where, "holds no follow-format fields"))
            else:
                formats.append((name, form))
        else:
            ignored.append(Problem(where, "this type is not read; attach the format as .xlsx or .csv"))
    if len(formats) > 1:
        parsed.problems.append(
            Problem("e-mail", f"more than one format attached ({', '.join(n for n, _ in formats)}); send one")
        )
        return
    parsed.problems.extend(attempted)
    if formats:
        parsed.form = formats[0][1]
        return
    if attempted:
        return
    body_form = form_from_text("\n".join(bodies))
    if not body_form.empty:
        parsed.form = body_form
        return
    parsed.problems.extend(ignored)
    parsed.problems.append(
        Problem("e-mail", "no follow format found: attach it as .xlsx or .csv, or write 'Label: value' lines")
    )
