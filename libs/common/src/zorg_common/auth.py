"""Bearer-token authentication: JWTs with scopes, and provider-portal tokens bound to one AGB code.

Two kinds of token arrive. Tokens of the identity provider (or `zorg token`) carry
``ZORG_JWT_ISSUER`` and are checked with the JWKS URL, the public key or the HS256 secret, as
before. Portal tokens are signed by the platform itself (eligibility, at log-in) and carry
``ZORG_PORTAL_ISSUER``; they are checked with the platform's own key: ``ZORG_JWT_PUBLIC_KEY``
(RS256/ES256, the algorithm read from the key) or, where the platform runs on HS256, the secret.
The issuer picks the key, so a service with a JWKS URL accepts both kinds, and a token the
platform signed is only ever a portal token.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .identifiers import is_agb
from .openapi import mark_scopes
from .problems import ProblemError
from .settings import ServiceSettings

SCOPES = (
    "providers:read",
    "providers:write",
    "contracts:read",
    "contracts:write",
    "claims:read",
    "claims:write",
    "admin",
    "portal",
)

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="A JWT from `zorg token` or the identity provider")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, its scopes and, for portal tokens, the provider."""

    subject: str
    scopes: frozenset[str]
    agb: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_portal(self) -> bool:
        return "portal" in self.scopes and "admin" not in self.scopes

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def may_see_provider(self, agb: str) -> bool:
        """Staff with the scope see every provider; a portal token only its own."""
        return not self.is_portal or self.agb == agb


class Unauthorized(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            401, "Unauthorized", detail, kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="zorginkoop"'}
        )


class Forbidden(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "Forbidden", detail, kind="forbidden")


#: A session of Mijn Zorgverlener lasts this long (DOMAIN.md, "what protects the accounts").
PORTAL_TOKEN_TTL = dt.timedelta(minutes=15)


def _payload(
    settings: ServiceSettings, scopes: list[str], subject: str, agb: str | None, ttl: dt.timedelta, issuer: str
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iss": issuer,
        "aud": settings.ZORG_JWT_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    if agb:
        payload["agb"] = agb
    return payload


def issue_token(
    settings: ServiceSettings,
    scopes: Iterable[str],
    *,
    agb: str | None = None,
    subject: str = "zorg-cli",
    ttl: dt.timedelta = dt.timedelta(hours=12),
) -> str:
    """A signed HS256 token, for development and tests (production tokens come from the IdP)."""
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if "portal" in scope_list and not agb:
        raise ValueError("a portal token needs the provider's AGB code (--agb)")
    payload = _payload(settings, scope_list, subject, agb, ttl, settings.ZORG_JWT_ISSUER)
    return jwt.encode(payload, settings.ZORG_JWT_SECRET, algorithm="HS256")


def key_algorithm(pem: str) -> str:
    """RS256 for an RSA key, ES256 for a P-256 key (private or public, PEM); anything else is refused."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    data = pem.encode()
    key: Any = load_pem_private_key(data, None) if b"PRIVATE KEY" in data else load_pem_public_key(data)
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "ES256"
    raise ValueError("the key must be RSA (RS256) or EC P-256 (ES256)")


def sign_portal_token(
    settings: ServiceSettings, *, subject: str, agb: str, private_key: str | None, ttl: dt.timedelta = PORTAL_TOKEN_TTL
) -> str:
    """A portal session token signed by the platform: with ``private_key`` (RS256/ES256) when
    given, else with the HS256 secret, which only a platform that runs on HS256 accepts."""
    payload = _payload(settings, ["portal"], subject, agb, ttl, settings.ZORG_PORTAL_ISSUER)
    if private_key:
        return jwt.encode(payload, private_key, algorithm=key_algorithm(private_key))
    if settings.ZORG_JWT_ALGORITHM != "HS256":
        raise ValueError(f"ZORG_JWT_ALGORITHM={settings.ZORG_JWT_ALGORITHM}: portal tokens need ZORG_JWT_PRIVATE_KEY")
    return jwt.encode(payload, settings.ZORG_JWT_SECRET, algorithm="HS256")


def _platform_key(settings: ServiceSettings) -> tuple[str, str]:
    """The key and algorithm that check a token the platform signed itself."""
    if settings.ZORG_JWT_PUBLIC_KEY:
        return settings.ZORG_JWT_PUBLIC_KEY, key_algorithm(settings.ZORG_JWT_PUBLIC_KEY)
    if settings.ZORG_JWT_ALGORITHM == "HS256":
        return settings.ZORG_JWT_SECRET, "HS256"
    # Never fall back to the secret when the platform runs on keys: it may be the development one.
    raise jwt.InvalidKeyError("this service has no key for portal tokens (ZORG_JWT_PUBLIC_KEY)")


def _unverified_issuer(token: str) -> Any:
    return jwt.decode(token, options={"verify_signature": False}).get("iss")


def _decode_platform_token(settings: ServiceSettings, token: str) -> dict[str, Any]:
    key, algorithm = _platform_key(settings)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience=settings.ZORG_JWT_AUDIENCE,
        issuer=settings.ZORG_PORTAL_ISSUER,
        options={"require": ["exp", "iat", "sub"]},
    )
    if claims.get("scope") != "portal":
        raise jwt.InvalidTokenError("a token the platform signs is only ever a portal token")
    return claims


def _decode_token(settings: ServiceSettings, token: str) -> dict[str, Any]:
    if settings.ZORG_JWT_JWKS_URL:
        key: Any = _jwks_client(settings.ZORG_JWT_JWKS_URL).get_signing_key_from_jwt(token).key
    elif settings.ZORG_JWT_ALGORITHM != "HS256":
        key = settings.ZORG_JWT_PUBLIC_KEY
    else:
        key = settings.ZORG_JWT_SECRET
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[settings.ZORG_JWT_ALGORITHM],
        audience=settings.ZORG_JWT_AUDIENCE,
        issuer=settings.ZORG_JWT_ISSUER,
        options={"require": ["exp", "sub"]},
    )
    return claims


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    try:
        if _unverified_issuer(token) == settings.ZORG_PORTAL_ISSUER:
            claims = _decode_platform_token(settings, token)
        else:
            claims = _decode_token(settings, token)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.PyJWKClientError as exc:  # its text names the identity provider's URL: for the log only
        log.warning("token key not found at ZORG_JWT_JWKS_URL: %s", exc)
        raise Unauthorized("the token is not valid: its signing key is not known") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the token is not valid: {exc}") from exc
    scopes, agb = _typed_claims(claims)
    if "portal" in scopes and not agb:
        raise Unauthorized("a portal token must carry the provider's agb claim")
    return Principal(subject=claims["sub"], scopes=scopes, agb=agb, claims=claims)


def _typed_claims(claims: dict[str, Any]) -> tuple[frozenset[str], str | None]:
    """The claims we read, of the type they must have: a token otherwise is not valid (401), whatever
    its signature, and nothing further on sees a number where a string belongs."""
    for name in ("exp", "iat", "nbf"):  # PyJWT takes the string "2000000000" for a time
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Unauthorized(f"the token is not valid: its {name} claim must be a number")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthorized("the token is not valid: its sub claim must be a string")
    raw_scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw_scope, str):
        scopes = frozenset(raw_scope.split())
    elif isinstance(raw_scope, list) and all(isinstance(scope, str) for scope in raw_scope):
        scopes = frozenset(raw_scope)
    else:
        raise Unauthorized("the token is not valid: its scope claim must be a string (or a list of strings)")
    agb = claims.get("agb")
    if agb is not None and not is_agb(agb):
        raise Unauthorized("the token is not valid: its agb claim must be an AGB code of 8 digits")
    return scopes, agb


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this endpoint needs an Authorization: Bearer token")
    settings: ServiceSettings = request.app.state.settings
    return decode_token(settings, credentials.credentials)


def require_scope(*scopes: str, portal: bool = False) -> Callable[..., Principal]:
    """A dependency that admits a token holding any of ``scopes`` (``admin`` holds all).

    With ``portal=True`` a provider-portal token is admitted too; the route must then restrict
    what it shows to ``principal.agb`` (see ``Principal.may_see_provider``).
    """

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if any(principal.has(s) for s in scopes):
            return principal
        if portal and "portal" in principal.scopes:
            return principal
        wanted = " or ".join(scopes + (("portal",) if portal else ()))
        raise Forbidden(f"this endpoint needs the scope {wanted}")

    dependency.__name__ = "require_" + "_".join(s.replace(":", "_") for s in scopes)
    mark_scopes(dependency, (*scopes, "admin", *(("portal",) if portal else ())))
    return dependency
