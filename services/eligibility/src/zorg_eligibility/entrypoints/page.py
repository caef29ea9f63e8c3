"""*Mijn Zorgverlener*, the provider portal page: plain HTML, one small script and a style sheet,
served from the package (nothing is fetched from elsewhere at run time), under a strict CSP."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, RedirectResponse

from zorg_common.app import RuntimeDep

from ..settings import EligibilitySettings

router = APIRouter(prefix="/portal", tags=["portal page"])

_TYPES = {"portal.js": "text/javascript; charset=utf-8", "portal.css": "text/css; charset=utf-8"}


@lru_cache(maxsize=4)
def _asset(name: str) -> bytes:
    return files("zorg_eligibility").joinpath("static", name).read_bytes()


def _origins(bases: dict[str, str]) -> list[str]:
    """The other origins the page calls (an absolute base); a relative one is the page's own."""
    found = []
    for base in bases.values():
        parts = urlsplit(base)
        if parts.scheme and parts.netloc:
            found.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(found))


def content_security_policy(bases: dict[str, str]) -> str:
    connect = " ".join(["'self'", *_origins(bases)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _headers(settings: EligibilitySettings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings.page_bases),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _settings(runtime: RuntimeDep) -> EligibilitySettings:
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    return settings


@router.get("", include_in_schema=False)
async def portal_redirect() -> RedirectResponse:
    return RedirectResponse("portal/", status_code=308)


@router.get("/", summary="Mijn Zorgverlener: the provider portal page (Dutch)", response_class=Response)
async def portal_page(runtime: RuntimeDep) -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=_headers(_settings(runtime)))


@router.get("/config.json", summary="Where the page finds each service's API")
async def portal_config(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse({"bases": _settings(runtime).page_bases}, headers={"Cache-Control": "no-cache"})


@router.get("/portal.js", include_in_schema=False)
async def portal_script(runtime: RuntimeDep) -> Response:
    return Response(_asset("portal.js"), media_type=_TYPES["portal.js"], headers=_headers(_settings(runtime)))


@router.get("/portal.css", include_in_schema=False)
async def portal_style(runtime: RuntimeDep) -> Response:
    return Response(_asset("portal.css"), media_type=_TYPES["portal.css"], headers=_headers(_settings(runtime)))
