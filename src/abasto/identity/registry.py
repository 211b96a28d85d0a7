"""The sector's registry of institutions and units shipped as data, and what syncing it changes.

``registry.json`` (beside this module) is versioned data: each institution with its code,
official name, kind, parent (the coordinator that aggregates it in appendices), state, the other
names official files give it, and its units. ``plan_sync`` compares it with what the database
holds (a ``Snapshot``) and lists the changes; it reads and writes nothing, the service applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import count_of
from abasto.core.text import fold
from abasto.identity.rules import STATES_BY_CODE

SHIPPED = "registry.json"
EXPECTED = (
    "un JSON con «version» y una lista «institutions» de objetos con code, name, kind, parent,"
    " state, aliases y units"
)
MAX_CODE = 40
MAX_UNIT_CODE = 60
MAX_NAME = 300


@dataclass(frozen=True, slots=True)
class RegistryUnit:
    code: str
    name: str
    kind: str
    state_code: str | None
    retired: bool = False
    """Not offered for new demand (an IMSS-Bienestar entity of a state that has not adhered)."""


@dataclass(frozen=True, slots=True)
class RegistryInstitution:
    code: str
    name: str
    kind: str
    parent: str | None
    state_code: str | None
    aliases: tuple[str, ...]
    units: tuple[RegistryUnit, ...]
    retired: bool = False


@dataclass(frozen=True, slots=True)
class Registry:
    version: str
    institutions: tuple[RegistryInstitution, ...]


def shipped_registry() -> Registry:
    """The registry this version of Abasto ships."""
    text = files("abasto.identity").joinpath(SHIPPED).read_text("utf-8")
    return parse_registry(text, SHIPPED)


def parse_registry(text: str, source: str) -> Registry:
    """The registry in ``text``; every problem at once (which entry, which field) when invalid."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"«{source}» no es JSON válido (línea {exc.lineno}).", expected=EXPECTED
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("institutions"), list):
        raise ValidationFailed(f"«{source}» no tiene la lista «institutions».", expected=EXPECTED)
    problems: list[Problem] = []
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append(Problem("Falta la versión del registro.", field="version"))
    institutions = [
        _institution(entry, f"institutions[{i}]", problems)
        for i, entry in enumerate(document["institutions"])
    ]
    problems.extend(_cross_problems(institutions))
    if problems:
        raise ValidationFailed(
            f"El registro «{source}» tiene {count_of(len(problems), 'problema', 'problemas')}.",
            problems=problems,
        )
    return Registry(str(version).strip(), tuple(institutions))


def _text(entry: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(f"Falta «{key}».", field=f"{where}.{key}"))
        return ""
    return " ".join(value.split())


def _optional(
    entry: Mapping[str, Any], key: str, where: str, problems: list[Problem]
) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(f"«{key}» debe ser texto o null.", field=f"{where}.{key}"))
        return None
    return value.strip() or None


def _state(entry: Mapping[str, Any], where: str, problems: list[Problem]) -> str | None:
    state = _optional(entry, "state", where, problems)
    if state is not None and state not in STATES_BY_CODE:
        problems.append(
            Problem(
                "La entidad federativa no existe.",
                field=f"{where}.state",
                value=state,
                expected="la clave INEGI de 01 a 32",
            )
        )
    return state


def _institution(entry: Any, where: str, problems: list[Problem]) -> RegistryInstitution:
    if not isinstance(entry, dict):
        problems.append(Problem("Cada institución debe ser un objeto.", field=where))
        return RegistryInstitution("", "", "", None, None, (), ())
    code = _text(entry, "code", where, problems).upper()
    if len(code) > MAX_CODE:
        problems.append(
            Problem("La clave es demasiado larga.", field=f"{where}.code", value=code[:60])
        )
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        problems.append(
            Problem("«aliases» debe ser una lista de textos.", field=f"{where}.aliases")
        )
        aliases = []
    units = entry.get("units", [])
    if not isinstance(units, list):
        problems.append(Problem("«units» debe ser una lista.", field=f"{where}.units"))
        units = []
    parent = _optional(entry, "parent", where, problems)
    return RegistryInstitution(
        code=code,
        name=_text(entry, "name", where, problems)[:MAX_NAME],
        kind=_text(entry, "kind", where, problems),
        parent=parent.upper() if parent else None,
        state_code=_state(entry, where, problems),
        aliases=tuple(" ".join(a.split())[:MAX_NAME] for a in aliases if a.strip()),
        units=tuple(_unit(u, f"{where}.units[{j}]", problems) for j, u in enumerate(units)),
        retired=bool(entry.get("retired", False)),
    )


def _unit(entry: Any, where: str, problems: list[Problem]) -> RegistryUnit:
    if not isinstance(entry, dict):
        problems.append(Problem("Cada unidad debe ser un objeto.", field=where))
        return RegistryUnit("", "", "", None)
    code = _text(entry, "code", where, problems).upper()
    if len(code) > MAX_UNIT_CODE:
        problems.append(
            Problem("La clave es demasiado larga.", field=f"{where}.code", value=code[:60])
        )
    return RegistryUnit(
        code=code,
        name=_text(entry, "name", where, problems)[:MAX_NAME],
        kind=_text(entry, "kind", where, problems),
        state_code=_state(entry, where, problems),
        retired=bool(entry.get("retired", False)),
    )


def _cross_problems(institutions: list[RegistryInstitution]) -> list[Problem]:
    """Codes twice, parents not in the registry, one name given to two institutions."""
    problems: list[Problem] = []
    codes: set[str] = set()
    owner: dict[str, str] = {}
    for institution in institutions:
        if institution.code in codes:
            problems.append(Problem("Clave repetida.", field="code", value=institution.code))
        codes.add(institution.code)
        for name in names_of(institution):
            taken = owner.setdefault(fold(name), institution.code)
            if taken != institution.code:
                problems.append(
                    Problem(
                        f"El nombre identifica a dos instituciones: {taken} y {institution.code}.",
                        field="aliases",
                        value=name,
                    )
                )
        unit_codes = [unit.code for unit in institution.units]
        for code in sorted({c for c in unit_codes if unit_codes.count(c) > 1}):
            problems.append(
                Problem(f"Unidad repetida en {institution.code}.", field="units", value=code)
            )
    for institution in institutions:
        if institution.parent and institution.parent not in codes:
            problems.append(
                Problem(
                    f"La institución coordinadora de {institution.code} no está en el registro.",
                    field="parent",
                    value=institution.parent,
                )
            )
    return problems


def names_of(institution: RegistryInstitution) -> tuple[str, ...]:
    """Code, name and aliases, one spelling per folded form."""
    seen: dict[str, str] = {}
    for name in (institution.code, institution.name, *institution.aliases):
        if fold(name):
            seen.setdefault(fold(name), name)
    return tuple(seen.values())


# ----- comparing with the database -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredUnit:
    name: str
    kind: str
    state_code: str | None
    retired: bool


@dataclass(frozen=True, slots=True)
class StoredInstitution:
    name: str
    kind: str
    parent: str | None
    state_code: str | None
    retired: bool
    units: Mapping[str, StoredUnit]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the database holds, as plain values: institutions by code, and who owns each name."""

    institutions: Mapping[str, StoredInstitution]
    aliases: Mapping[str, str]
    """Folded name → code of the institution it identifies."""


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """The changes that bring the database to the registry, in the order they apply."""

    version: str
    added: tuple[RegistryInstitution, ...] = ()
    renamed: tuple[tuple[str, str, str], ...] = ()
    """(code, current name, registry name)."""
    updated: tuple[tuple[str, Mapping[str, tuple[str | None, str | None]]], ...] = ()
    """(code, field → (current, registry)) for kind, parent and state."""
    aliases: tuple[tuple[str, str], ...] = ()
    """(code, alias) to add."""
    retired: tuple[str, ...] = ()
    units_added: tuple[tuple[str, RegistryUnit], ...] = ()
    units_renamed: tuple[tuple[str, str, str, str], ...] = ()
    """(institution, unit, current name, registry name)."""
    units_updated: tuple[tuple[str, str, Mapping[str, tuple[str | None, str | None]]], ...] = ()
    units_retired: tuple[tuple[str, str], ...] = ()
    conflicts: tuple[Problem, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.added,
                self.renamed,
                self.updated,
                self.aliases,
                self.retired,
                self.units_added,
                self.units_renamed,
                self.units_updated,
                self.units_retired,
            )
        )

    def lines(self) -> list[str]:
        """The changes in Spanish, one per line, as the CLI prints them."""
        out: list[str] = []
        for institution in self.added:
            units = len(institution.units)
            out.append(
                f"+ institución {institution.code} «{institution.name}»"
                + (f" con {count_of(units, 'unidad', 'unidades')}" if units else "")
                + (" (retirada)" if institution.retired else "")
            )
        out += [f"~ nombre de {c}: «{old}» → «{new}»" for c, old, new in self.renamed]
        out += [f"~ {c}: {_fields(changes)}" for c, changes in self.updated]
        out += [f"+ otro nombre de {c}: «{alias}»" for c, alias in self.aliases]
        out += [f"- institución {c} retirada" for c in self.retired]
        out += [f"+ unidad {c}/{u.code} «{u.name}»" for c, u in self.units_added]
        out += [f"~ nombre de {c}/{u}: «{old}» → «{new}»" for c, u, old, new in self.units_renamed]
        out += [f"~ {c}/{u}: {_fields(changes)}" for c, u, changes in self.units_updated]
        out += [f"- unidad {c}/{u} retirada" for c, u in self.units_retired]
        return out

    def counts(self) -> dict[str, int]:
        return {
            "institutions_added": len(self.added),
            "institutions_renamed": len(self.renamed),
            "institutions_updated": len(self.updated),
            "aliases_added": len(self.aliases),
            "institutions_retired": len(self.retired),
            "units_added": len(self.units_added) + sum(len(i.units) for i in self.added),
            "units_renamed": len(self.units_renamed),
            "units_updated": len(self.units_updated),
            "units_retired": len(self.units_retired)
            + sum(u.retired for i in self.added for u in i.units),
        }


_FIELD_LABELS = {"kind": "tipo", "parent": "coordinadora", "state": "entidad"}


def _fields(changes: Mapping[str, tuple[str | None, str | None]]) -> str:
    return ", ".join(
        f"{_FIELD_LABELS.get(key, key)} {old or '—'} → {new or '—'}"
        for key, (old, new) in changes.items()
    )


def _differences(
    pairs: Iterable[tuple[str, str | None, str | None]],
) -> dict[str, tuple[str | None, str | None]]:
    return {key: (old, new) for key, old, new in pairs if old != new}


def plan_sync(registry: Registry, stored: Snapshot) -> SyncPlan:
    """What syncing ``registry`` into ``stored`` changes: what is missing is added, names that
    differ are renamed (the old name stays an alias, so older files still match), missing
    aliases are added, and what the registry marks retired is retired. Nothing the registry
    does not name is touched: units imported from CLUES and institutions registered by hand
    stay as they are, and retirements are never undone by a sync.
    """
    added: list[RegistryInstitution] = []
    renamed: list[tuple[str, str, str]] = []
    updated: list[tuple[str, Mapping[str, tuple[str | None, str | None]]]] = []
    aliases: list[tuple[str, str]] = []
    retired: list[str] = []
    units_added: list[tuple[str, RegistryUnit]] = []
    units_renamed: list[tuple[str, str, str, str]] = []
    units_updated: list[tuple[str, str, Mapping[str, tuple[str | None, str | None]]]] = []
    units_retired: list[tuple[str, str]] = []
    conflicts: list[Problem] = []
    for entry in registry.institutions:
        for name in names_of(entry):
            owner = stored.aliases.get(fold(name))
            if owner is not None and owner != entry.code:
                conflicts.append(
                    Problem(
                        f"«{name}» ya identifica a {owner} en la base; el registro lo da a"
                        f" {entry.code}.",
                        field="aliases",
                        value=name,
                        expected="asignar ese nombre a una sola institución",
                    )
                )
        current = stored.institutions.get(entry.code)
        if current is None:
            added.append(entry)
            continue
        if current.name != entry.name:
            renamed.append((entry.code, current.name, entry.name))
        changes = _differences(
            (
                ("kind", current.kind, entry.kind),
                ("parent", current.parent, entry.parent),
                ("state", current.state_code, entry.state_code),
            )
        )
        if changes:
            updated.append((entry.code, changes))
        owned = {f for f, code in stored.aliases.items() if code == entry.code}
        for name in names_of(entry):
            if fold(name) not in owned and fold(name) not in stored.aliases:
                aliases.append((entry.code, name))
        if entry.retired and not current.retired:
            retired.append(entry.code)
        for unit in entry.units:
            have = current.units.get(unit.code)
            if have is None:
                units_added.append((entry.code, unit))
                continue
            if have.name != unit.name:
                units_renamed.append((entry.code, unit.code, have.name, unit.name))
            unit_changes = _differences(
                (("kind", have.kind, unit.kind), ("state", have.state_code, unit.state_code))
            )
            if unit_changes:
                units_updated.append((entry.code, unit.code, unit_changes))
            if unit.retired and not have.retired:
                units_retired.append((entry.code, unit.code))
    return SyncPlan(
        version=registry.version,
        added=tuple(added),
        renamed=tuple(renamed),
        updated=tuple(updated),
        aliases=tuple(aliases),
        retired=tuple(retired),
        units_added=tuple(units_added),
        units_renamed=tuple(units_renamed),
        units_updated=tuple(units_updated),
        units_retired=tuple(units_retired),
        conflicts=tuple(conflicts),
    )
