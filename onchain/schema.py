"""Every table of every feature on one MetaData: the schema the Alembic history creates.

Storage declares the chain tables and the MetaData; each feature declares its own tables on it. This
module sits above them all and gathers them, so storage never imports a feature to know the schema.
The migrations environment and the schema test read `metadata` from here.
"""

from __future__ import annotations

import onchain.accounts.tables
import onchain.alerts.tables
import onchain.analytics.mev.tables  # noqa: F401  (each registers its tables on the MetaData)
from onchain.storage.tables import metadata

__all__ = ["metadata"]
