"""Every domain's tables, imported in one place so that Alembic and tests see the whole schema."""

from abasto.award.models import (
    ContractDraft,
    Fallo,
    FalloLine,
    FalloOutcome,
    FalloPartida,
    PriceObservation,
    TechnicalEvaluation,
)
from abasto.catalog.models import Clave, Homologation
from abasto.core.checkpoints import LedgerCheckpoint, LedgerTree, LedgerTreeNode
from abasto.core.db import Base
from abasto.core.ledger import LedgerEntry, LedgerHead
from abasto.demand.models import (
    Consumption,
    DemandLine,
    DemandObservation,
    DemandRound,
    ForecastSuggestion,
    RoundInstitution,
)
from abasto.identity.models import (
    Credential,
    Institution,
    InstitutionAlias,
    LoginThrottle,
    Sanction,
    Supplier,
    SupplierName,
    SupplierRename,
    Unit,
    User,
)
from abasto.tendering.models import (
    Amendment,
    Bid,
    BidLine,
    BidRequest,
    Invitation,
    Partida,
    PartidaDemand,
    Question,
    Tender,
)
from abasto.transparency.redflags.models import RedFlag, RedFlagRun

__all__ = [
    "Amendment",
    "Base",
    "Bid",
    "BidLine",
    "BidRequest",
    "Clave",
    "Consumption",
    "ContractDraft",
    "Credential",
    "DemandLine",
    "DemandObservation",
    "DemandRound",
    "Fallo",
    "FalloLine",
    "FalloOutcome",
    "FalloPartida",
    "ForecastSuggestion",
    "Homologation",
    "Institution",
    "InstitutionAlias",
    "Invitation",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerHead",
    "LedgerTree",
    "LedgerTreeNode",
    "LoginThrottle",
    "Partida",
    "PartidaDemand",
    "PriceObservation",
    "Question",
    "RedFlag",
    "RedFlagRun",
    "RoundInstitution",
    "Sanction",
    "Supplier",
    "SupplierName",
    "SupplierRename",
    "TechnicalEvaluation",
    "Tender",
    "Unit",
    "User",
]
