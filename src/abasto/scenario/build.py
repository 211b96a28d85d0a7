"""The demo scenario as plain data: institutions, claves and suppliers from a seed and a scale."""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from abasto.scenario.catalog import GROUP_CATEGORY, ClaveSpec, build_catalog
from abasto.scenario.institutions import BUYER, InstitutionSpec, Scale, UnitSpec, institutions
from abasto.scenario.suppliers import SupplierSpec, build_suppliers

# Registration dates are counted back from this day unless the caller passes its own, so the
# same seed always gives the same scenario.
DEFAULT_AS_OF = datetime.date(2025, 7, 1)


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the demo stores before any demand round: who buys, what, and from whom."""

    seed: int
    scale: Scale
    as_of: datetime.date
    buyer: InstitutionSpec
    institutions: tuple[InstitutionSpec, ...]
    claves: tuple[ClaveSpec, ...]
    suppliers: tuple[SupplierSpec, ...]

    def institution(self, code: str) -> InstitutionSpec:
        for institution in self.institutions:
            if institution.code == code:
                return institution
        raise KeyError(code)

    def units(self) -> Iterator[tuple[InstitutionSpec, UnitSpec]]:
        """Every unit of every institution (the buyer's excluded), with its institution."""
        for institution in self.institutions:
            for unit in institution.units:
                yield institution, unit

    def counts(self) -> dict[str, int]:
        """Totals by kind, e.g. ``units.OOAD``, ``claves.010``, ``claves.medicamento``."""
        counts: Counter[str] = Counter()
        counts["institutions"] = len(self.institutions)
        for _, unit in self.units():
            counts["units"] += 1
            counts[f"units.{unit.kind}"] += 1
        counts["claves"] = len(self.claves)
        for clave in self.claves:
            counts[f"claves.{clave.group}"] += 1
            counts[f"claves.{GROUP_CATEGORY[clave.group]}"] += 1
        counts["suppliers"] = len(self.suppliers)
        counts["suppliers.sanctions_lookalike"] = sum(s.sanctions_lookalike for s in self.suppliers)
        return dict(counts)


def build_scenario(seed: int, scale: Scale, *, as_of: datetime.date = DEFAULT_AS_OF) -> Scenario:
    """The same ``seed``, ``scale`` and ``as_of`` always give an equal scenario."""
    # One stream per part, so that generating more of one part leaves the others unchanged.
    return Scenario(
        seed=seed,
        scale=scale,
        as_of=as_of,
        buyer=BUYER,
        institutions=institutions(scale),
        claves=build_catalog(random.Random(f"abasto:{seed}:catalog"), scale),
        suppliers=build_suppliers(random.Random(f"abasto:{seed}:suppliers"), scale, as_of),
    )
