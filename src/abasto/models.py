"""Every domain's tables, imported in one place so that Alembic and tests see the whole schema."""

from abasto.catalog.models import Clave, Homologation
from abasto.core.db import Base
from abasto.core.ledger import LedgerEntry, LedgerHead
from abasto.demand.models import (
    Consumption,
    DemandLine,
    DemandRound,
    ForecastSuggestion,
    RoundInstitution,
)
from abasto.identity.models import (
    Credential,
    Institution,
    InstitutionAlias,
    Sanction,
    Supplier,
    Unit,
    User,
)

__all__ = [
    "Base",
    "Clave",
    "Consumption",
    "Credential",
    "DemandLine",
    "DemandRound",
    "ForecastSuggestion",
    "Homologation",
    "Institution",
    "InstitutionAlias",
    "LedgerEntry",
    "LedgerHead",
    "RoundInstitution",
    "Sanction",
    "Supplier",
    "Unit",
    "User",
]
