"""Alembic environment of the eligibility service (run by `zorg migrate eligibility`)."""

from zorg_common.messaging import messaging_metadata
from zorg_common.migrations import run_env
from zorg_eligibility.adapters.orm import metadata
from zorg_eligibility.settings import EligibilitySettings

run_env([metadata, messaging_metadata], EligibilitySettings)
