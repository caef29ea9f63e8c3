"""Alembic environment of the publication service (run by `zorg migrate publication`)."""

from zorg_common.messaging import messaging_metadata
from zorg_common.migrations import run_env
from zorg_publication.adapters.orm import metadata
from zorg_publication.settings import PublicationSettings

run_env([metadata, messaging_metadata], PublicationSettings)
