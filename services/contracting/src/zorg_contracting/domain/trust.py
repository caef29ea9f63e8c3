"""Who may send a follow format: a contact address on file, and our own mail server's DMARC verdict.

Anyone can write any From address, so a format is acted on automatically only when its sender is
one of the provider's contact addresses in the register and, where our receiving mail server
recorded an ``Authentication-Results`` header (RFC 8601), DMARC did not fail (DOMAIN.md, who may
send a follow format). Only headers carrying our server's authserv-id count: any other such header
was written by the sender or a server on the way, and proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from zorg_common.identifiers import address_key

_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class SenderCheck:
    """Whether the sender may have a format acted on without a person, and if not, why (for staff)."""

    sender: str | None
    on_file: bool
    dmarc_failed: bool

    @property
    def trusted(self) -> bool:
        return self.on_file and not self.dmarc_failed

    def reasons(self) -> list[str]:
        why = []
        if self.sender is None:
            why.append("the e-mail names no single sender address (From)")
        elif not self.on_file:
            why.append(f"the sender {self.sender} is not a contact address on file for this provider")
        if self.dmarc_failed:
            why.append("our mail server recorded DMARC failing for the sender's domain (Authentication-Results)")
        return why


def results_of(header: str) -> tuple[str, dict[str, str]]:
    """One Authentication-Results value: its authserv-id and each method's result (``{"dmarc": "fail"}``)."""
    text = header
    while _COMMENT.search(text):  # comments may nest; remove the innermost until none is left
        text = _COMMENT.sub(" ", text)
    first, *resinfo = text.split(";")
    tokens = first.split()
    authserv_id = tokens[0].lower() if tokens else ""
    results: dict[str, str] = {}
    for item in resinfo:
        words = item.split()
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].partition("=")
        results.setdefault(method.split("/")[0].lower(), result.lower())
    return authserv_id, results


def dmarc_failed(headers: Sequence[str], authserv_id: str | None) -> bool:
    """Whether any Authentication-Results header of our own server shows DMARC failing."""
    if not authserv_id:
        return False
    ours = authserv_id.strip().lower()
    for header in headers:
        server, results = results_of(header)
        if server == ours and results.get("dmarc") == "fail":
            return True
    return False


def check_sender(
    sender: str | None, on_file: Sequence[str], auth_results: Sequence[str], authserv_id: str | None
) -> SenderCheck:
    """The sender against the provider's contact addresses (ignoring case), and our server's DMARC verdict."""
    keys = {address_key(a) for a in on_file}
    return SenderCheck(
        sender=sender,
        on_file=sender is not None and address_key(sender) in keys,
        dmarc_failed=dmarc_failed(auth_results, authserv_id),
    )


def reply_address(contact_in_format: str | None, sender: str | None, on_file: Sequence[str]) -> str | None:
    """Where a reply goes: only ever an address on file (DOMAIN.md).

    The format's contact address when it is on file, else the sender when it is, else the first
    address on file; None when the register has none.
    """
    by_key = {address_key(a): a for a in on_file}
    for candidate in (contact_in_format, sender):
        if candidate and address_key(candidate) in by_key:
            return by_key[address_key(candidate)]
    return on_file[0] if on_file else None
