"""HTTP caching of the public listing: entity tags from the feed's mark, and If-None-Match."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: Caches may keep a copy but must ask again each time (a 304 is cheap): a new contract shows at once.
PUBLIC_CACHE = "public, max-age=0, must-revalidate"
PRIVATE_CACHE = "private, no-store"
#: The header as documented in OpenAPI.
CACHE_CONTROL = {"description": "how long a cache may keep the answer", "schema": {"type": "string"}}


def entity_tag(*parts: object) -> str:
    """A strong tag over everything the body depends on: the read model's mark, the query, the embargo."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _tags(header: str) -> Iterable[str]:
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]  # If-None-Match compares weakly (RFC 9110, 13.1.2)
        if tag:
            yield tag


def not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(tag == "*" or tag == etag for tag in _tags(if_none_match))
