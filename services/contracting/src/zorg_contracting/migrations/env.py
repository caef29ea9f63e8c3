"""Alembic environment of the contracting service (run by `zorg migrate contracting`)."""

from zorg_common.messaging import messaging_metadata
from zorg_common.migrations import run_env
from zorg_contracting.adapters.orm import metadata
from zorg_contracting.settings import ContractingSettings

run_env([metadata, messaging_metadata], ContractingSettings)
