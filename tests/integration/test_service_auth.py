"""Contracting calls eligibility under a real identity provider: RS256 keys, a JWKS, client credentials.

The identity provider is served over HTTP from its own thread; eligibility is served over HTTP by
uvicorn with ZORG_JWT_ALGORITHM=RS256 and the provider's JWKS; contracting runs in production
settings and gets its token from the provider's token endpoint, once, for every call it makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Kafka, eventually
from tests.integration.backbone import settings_for
from tests.integration.idp import IdentityProvider
from tests.integration.test_contracting_harness import MAIL, contracting_settings
from tests.support import pem_pair, running_app, served
from zorg_common.app import create_app
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_eligibility.entrypoints.demo import load_demo
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

SECRET = "contracting-client-secret-0123456789"


async def test_contracting_asks_eligibility_with_a_token_from_the_identity_provider(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    idp = IdentityProvider(
        clients={
            "contracting": (SECRET, frozenset({"providers:read"})),
            "eligibility": (SECRET, frozenset({"claims:read"})),  # it calls claims (a simulation's amounts)
        }
    )
    production = {"ZORG_ENV": "production", "ZORG_JWT_ALGORITHM": "RS256", "ZORG_JWT_JWKS_URL": idp.jwks_url}
    portal_keys = {"ZORG_JWT_PRIVATE_KEY": pem_pair()[0]}  # eligibility signs portal tokens with its own key
    eligibility_url, contracting_url = make_pg_url(), make_pg_url()
    upgrade(ELIGIBILITY.migrations, eligibility_url)
    upgrade(CONTRACTING.migrations, contracting_url)
    eligibility_client = {
        "ZORG_OAUTH_TOKEN_URL": idp.token_url,
        "ZORG_CLIENT_ID": "eligibility",
        "ZORG_CLIENT_SECRET": SECRET,
    }
    eligibility_settings = settings_for(
        EligibilitySettings, eligibility_url, kafka, topic_prefix, **production, **portal_keys, **eligibility_client
    )
    with idp.serving():
        async with served(create_app(ELIGIBILITY, eligibility_settings, workers=False)) as eligibility:
            async with httpx.AsyncClient(base_url=eligibility, timeout=30) as client:

                def token(*scopes: str, agb: str | None = None) -> str:
                    return idp.mint(scopes, subject="demo-loader", agb=agb)

                await load_demo(client, token)
                # What contracting sent before: a token it signed itself, which eligibility now refuses.
                self_signed = issue_token(eligibility_settings, ["providers:read"], subject="contracting")
                refused = await client.get("/providers/12345678", headers={"Authorization": f"Bearer {self_signed}"})
                assert refused.status_code == 401

            settings = contracting_settings(
                contracting_url,
                kafka,
                topic_prefix,
                **production,
                ZORG_OAUTH_TOKEN_URL=idp.token_url,
                ZORG_CLIENT_ID="contracting",
                ZORG_CLIENT_SECRET=SECRET,
                ELIGIBILITY_URL=eligibility,
            )
            async with running_app(CONTRACTING, settings) as contracting:
                staff = {"Authorization": f"Bearer {idp.mint(['contracts:read', 'contracts:write'])}"}
                posted = await contracting.post(
                    "/follow-formats",
                    content=(MAIL / "good_xlsx.eml").read_bytes(),
                    headers={**staff, "Content-Type": "message/rfc822"},
                )
                assert posted.status_code == 202, posted.text
                intake_id = posted.json()["intake_id"]

                async def decided() -> Any:
                    intake = (await contracting.get(f"/follow-formats/{intake_id}", headers=staff)).json()
                    return intake if intake["status"] != "received" else None

                intake = await eventually(decided, timeout=60)
                assert intake["status"] == "accepted" and intake["contract_id"], intake
                # Two calls to eligibility (evaluation and register) on one token from the provider.
                assert idp.granted == {"contracting": 1} and idp.refused == 0


async def test_a_token_whose_key_the_jwks_lacks_is_401_without_naming_the_identity_provider(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    idp = IdentityProvider(clients={})
    stranger = IdentityProvider(clients={})  # another key, another kid: not in idp's JWKS
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(
        EligibilitySettings,
        url,
        kafka,
        topic_prefix,
        ZORG_JWT_ALGORITHM="RS256",
        ZORG_JWT_JWKS_URL=idp.jwks_url,
        ZORG_JWT_PRIVATE_KEY=pem_pair()[0],
    )
    async with running_app(ELIGIBILITY, settings, workers=False) as client:
        with idp.serving():
            good = await client.get("/providers", headers={"Authorization": f"Bearer {idp.mint(['providers:read'])}"})
            assert good.status_code == 200, good.text
            for token in (stranger.mint(["providers:read"]), issue_token(settings, ["providers:read"])):
                refused = await client.get("/providers", headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 401, refused.text
        # The identity provider is away: an unknown key cannot be looked up (the error names its URL).
        away = await client.get("/providers", headers={"Authorization": f"Bearer {stranger.mint(['admin'])}"})
        assert away.status_code == 401, away.text
        assert away.json()["detail"] == "the token is not valid: its signing key is not known"
        assert idp.url not in away.text and str(idp.port) not in away.text
