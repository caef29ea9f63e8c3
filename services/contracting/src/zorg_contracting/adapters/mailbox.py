"""Reading a raw e-mail (standard library `email`, policy.default): envelope, sender checks, and the format in it.

``read_mail`` is CPU work on untrusted bytes: it runs in a worker process (``adapters.reading``),
never on the event loop, and every count it meets is bounded (parts, attachments, and in the
spreadsheet rows and cells) so that one crafted e-mail cannot keep a worker busy either. Problems
are Dutch: they reach the provider in the reply.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from zorg_common.identifiers import is_email_address

from ..domain.follow_format import Problem, RawForm, form_from_rows, form_from_text
from .spreadsheet import SheetLimits, Unreadable, read_csv, read_xlsx

log = logging.getLogger(__name__)

ARCHIVES = (".zip", ".rar", ".7z", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".arj", ".cab")
MACRO_BOOKS = (".xlsm", ".xlsb", ".xls", ".xltm")
#: The header section read for the envelope; a longer one is cut (the full parse sees all of it).
HEADER_MAX_BYTES = 256_000


@dataclass(frozen=True)
class MailLimits:
    """How much of an e-mail is read; past a limit the e-mail or attachment is refused with its problem."""

    attachment_max_bytes: int
    max_parts: int = 100
    max_attachments: int = 10
    sheet: SheetLimits = field(default_factory=lambda: SheetLimits(max_rows=500, max_cells=5_000))


@dataclass(frozen=True)
class Envelope:
    message_id: str
    message_id_derived: bool
    sender: str | None  # the one address in From; None when there is none or more than one
    subject: str | None
    auth_results: tuple[str, ...] = ()  # every Authentication-Results header, as written


@dataclass
class ParsedMail:
    envelope: Envelope
    form: RawForm | None = None
    problems: list[Problem] = field(default_factory=list)


class TooManyParts(Exception):
    pass


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


def _all_headers(msg: Message, name: str) -> tuple[str, ...]:
    try:
        return tuple(str(v)[:2000] for v in msg.get_all(name) or ())
    except Exception:
        return ()


def _sender(msg: Message) -> str | None:
    """The single address in From (an e-mail with several From addresses has no one sender)."""
    from_header = _header(msg, "From")
    if not from_header:
        return None
    try:
        addresses = [a for _, a in getaddresses([from_header])]
    except Exception:
        return None
    if len(addresses) != 1 or not is_email_address(addresses[0]):
        return None
    return addresses[0]


def _header_block(raw: bytes) -> bytes:
    """The header section alone: the envelope never walks through a 25 MB body."""
    head = raw[:HEADER_MAX_BYTES]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    return head[: min(ends) + 2] if ends else head


def envelope_of(raw: bytes) -> Envelope:
    """Message-ID (derived from the bytes when missing), the sender, the subject, authentication results."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(_header_block(raw), headersonly=True)
    except Exception:
        return Envelope(derived_message_id(raw), True, None, None)
    message_id = _header(msg, "Message-ID")
    if message_id is not None:
        message_id = message_id[:998]
    subject = _header(msg, "Subject")
    return Envelope(
        message_id=message_id or derived_message_id(raw),
        message_id_derived=message_id is None,
        sender=_sender(msg),
        subject=subject[:500] if subject else None,
        auth_results=_all_headers(msg, "Authentication-Results")[:20],
    )


def _parse(raw: bytes, max_parts: int) -> EmailMessage:
    """The whole message; past ``max_parts`` MIME parts the parser stops at once (TooManyParts)."""
    made = -1  # the parser makes one message up front to learn the factory's signature

    def factory(**kw: Any) -> EmailMessage:
        nonlocal made
        made += 1
        if made > max_parts:
            raise TooManyParts
        return EmailMessage(**kw)

    msg = BytesParser(factory, policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def read_mail(raw: bytes, limits: MailLimits) -> ParsedMail:
    """The format from the e-mail: an .xlsx or .csv attachment, else `Label: value` lines in the body."""
    parsed = ParsedMail(envelope_of(raw))
    try:
        msg = _parse(raw, limits.max_parts)
        _read_parts(msg, parsed, limits)
    except TooManyParts:
        parsed.form = None
        parsed.problems = [
            Problem(
                "e-mail", f"bestaat uit meer dan {limits.max_parts} delen; stuur een e-mail met alleen het volgformat"
            )
        ]
    except Exception as exc:  # a hostile message must end in a clear outcome, never a crash
        log.warning("e-mail %s could not be read: %r", parsed.envelope.message_id[:80], exc)
        parsed.form = None
        parsed.problems = [Problem("e-mail", "het bericht is niet te lezen (beschadigd of geen e-mail)")]
    return parsed


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return "(zonder naam)"
    return str(name)[:200] if name else None


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _body_text(part: Message) -> str:
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
        text = re.sub(r"<[^<>]*>", " ", text)  # linear: a stray "<" never makes it scan to the end
        text = html.unescape(text).replace("\xa0", " ")  # Outlook writes &nbsp;, &euro;, &#8217;
    return text


def _is_attachment(part: Message) -> bool:
    return _filename(part) is not None or part.get_content_disposition() == "attachment"


def _alternative(part: Message) -> Message | None:
    """Of a multipart/alternative (Outlook's HTML mail), the one body read: the plain text, else the HTML.

    DOMAIN.md (mail with two bodies): the alternatives are one body; read once, a field counts once.
    """
    children = list(part.iter_parts()) if isinstance(part, EmailMessage) else []
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() == wanted and not _is_attachment(child):
                return child
    html = next((c for c in children if c.is_multipart() and any(_html_inside(c))), None)
    return html or (children[-1] if children else None)  # RFC 2046: the last is the richest


def _html_inside(part: Message) -> Iterator[bool]:
    for leaf in _leaves(part):
        yield leaf.get_content_type() == "text/html"


def _leaves(part: Message) -> Iterator[Message]:
    """The parts that carry content, with one alternative taken of each multipart/alternative."""
    if not part.is_multipart():
        yield part
        return
    if part.get_content_type() == "multipart/alternative":
        chosen = _alternative(part)
        if chosen is not None:
            yield from _leaves(chosen)
        return
    for child in part.iter_parts() if isinstance(part, EmailMessage) else ():
        yield from _leaves(child)


@dataclass
class _Found:
    formats: list[tuple[str, RawForm]] = field(default_factory=list)
    attempted: list[Problem] = field(default_factory=list)  # spreadsheets or archives we could not use
    ignored: list[Problem] = field(default_factory=list)  # other attachments: a problem only without a format
    bodies: list[str] = field(default_factory=list)


def _read_attachment(part: Message, found: _Found, limits: MailLimits) -> None:
    name = _filename(part) or "(zonder naam)"
    lower = name.lower()
    where = f"bijlage {name}"
    if lower.endswith(ARCHIVES) or part.get_content_type() in ("application/zip", "application/x-zip-compressed"):
        found.attempted.append(
            Problem(where, "archieven worden niet geopend; voeg het .xlsx- of .csv-bestand zelf bij")
        )
    elif lower.endswith(MACRO_BOOKS):
        found.attempted.append(
            Problem(where, "spreadsheets met macro's of in het oude formaat worden geweigerd; stuur een .xlsx")
        )
    elif lower.endswith((".xlsx", ".csv")):
        data = _payload(part)
        if len(data) > limits.attachment_max_bytes:
            found.attempted.append(
                Problem(where, f"is {_number(len(data))} bytes; de grens is {_number(limits.attachment_max_bytes)}")
            )
            return
        try:
            rows = read_xlsx(data, limits.sheet) if lower.endswith(".xlsx") else read_csv(data, limits.sheet)
        except Unreadable as exc:
            found.attempted.append(Problem(where, str(exc)))
            return
        form = form_from_rows(rows)
        if form.empty:
            found.attempted.append(Problem(where, "bevat geen velden van het volgformat"))
        else:
            found.formats.append((name, form))
    else:
        found.ignored.append(
            Problem(where, "dit bestandstype lezen wij niet; voeg het volgformat bij als .xlsx of .csv")
        )


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _read_parts(msg: EmailMessage, parsed: ParsedMail, limits: MailLimits) -> None:
    found = _Found()
    attachments = 0
    for part in _leaves(msg):
        if _is_attachment(part):
            attachments += 1
            if attachments > limits.max_attachments:
                parsed.problems.append(
                    Problem("e-mail", f"heeft meer dan {limits.max_attachments} bijlagen; stuur alleen het volgformat")
                )
                return
            _read_attachment(part, found, limits)
        elif part.get_content_maintype() == "text":
            found.bodies.append(_body_text(part))
    _choose(found, parsed)


def _choose(found: _Found, parsed: ParsedMail) -> None:
    """One format attached, else one in the body; every problem with what was tried."""
    if len(found.formats) > 1:
        names = ", ".join(n for n, _ in found.formats)
        parsed.problems.append(Problem("e-mail", f"meer dan één volgformat bijgevoegd ({names}); stuur er één"))
        return
    parsed.problems.extend(found.attempted)
    if found.formats:
        parsed.form = found.formats[0][1]
        return
    if found.attempted:
        return
    body_form = form_from_text("\n".join(found.bodies))
    if not body_form.empty:
        parsed.form = body_form
        return
    parsed.problems.extend(found.ignored)
    parsed.problems.append(
        Problem("e-mail", "geen volgformat gevonden: voeg het bij als .xlsx of .csv, of schrijf regels 'Label: waarde'")
    )
