"""Alembic environment of the claims service (run by `zorg migrate claims`)."""

from zorg_claims.adapters.orm import metadata
from zorg_claims.settings import ClaimsSettings
from zorg_common.messaging import messaging_metadata
from zorg_common.migrations import run_env

run_env([metadata, messaging_metadata], ClaimsSettings)
