"""Search keys: names and cities compared and sorted without regard to case or accents."""

from __future__ import annotations

import unicodedata


def search_key(text: str | None) -> str:
    """``"Zorggroep Één  's-Hertogenbosch"`` -> ``"zorggroep een 's-hertogenbosch"``."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
