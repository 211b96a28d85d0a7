"""Reading prices for market research: price lists (CSV/XLSX) and other publishers' OCDS data.

A price list has a ``Clave`` and a ``Precio unitario`` column, and optionally ``Moneda``,
``Fecha`` and ``Fuente``. OCDS data may be a release package, a record package, a single release
or record, or line-delimited compiled releases; the unit values of its awards' and contracts'
items are taken, matched to claves by the item's classification (its id when it is a clave, or
``mapping`` of ``(scheme, id)`` to clave). Every price is converted to MXN with ``rates``; a
currency with no rate is an error, never a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from abasto.catalog.rules import ClaveError, parse_clave
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import count_of
from abasto.core.spreadsheet import Column, find_header, read_sheets, text
from abasto.transparency.ocds import reader

CLAVE = Column("clave", ("Clave", "Clave CNIS", "Clave del cuadro básico"))
PRICE = Column("price", ("Precio unitario", "Precio Unitario", "Precio"))
CURRENCY = Column("currency", ("Moneda",), required=False)
DATE = Column("date", ("Fecha", "Fecha de adjudicación"), required=False)
SOURCE = Column("source", ("Fuente",), required=False)

LIST_EXPECTED = "una lista de precios .csv o .xlsx con columnas «Clave» y «Precio unitario»"
OCDS_EXPECTED = (
    "datos OCDS en JSON: un paquete de entregas (releases) o de registros (records), una entrega, "
    "o entregas compiladas una por línea"
)


@dataclass(frozen=True, slots=True)
class Observed:
    """A price as read, before it is stored: converted to MXN, with where it came from."""

    clave: str
    unit_price: Decimal
    original_price: Decimal
    currency: str
    rate: Decimal
    observed_on: date | None
    source: str
    source_ref: str


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError
    if isinstance(value, str):
        value = value.replace("$", "").replace(",", "")
    # Bounded by length and exponent before conversion (numbers.number_of raises ValueError).
    number = numbers.number_of(value)
    if number <= 0:
        raise ValueError
    return number


def _rate(currency: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    if currency == "MXN":
        return Decimal(1)
    return rates.get(currency)


def _mxn(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(Decimal("0.01"))


def _missing_rates(missing: dict[str, int]) -> list[Problem]:
    return [
        Problem(
            f"Moneda {currency} sin tipo de cambio ({count_of(count, 'precio', 'precios')})",
            field="rates",
            value=currency,
            expected=f"un tipo de cambio a pesos, p. ej. «--rate {currency}=20.15»",
        )
        for currency, count in sorted(missing.items())
    ]


def read_price_list(content: bytes, filename: str, rates: Mapping[str, Decimal]) -> list[Observed]:
    """Every row of a price list; every problem at once (row, column, value, expected)."""
    header = None
    for sheet in read_sheets(content, filename):
        header = find_header(sheet, (CLAVE, PRICE, CURRENCY, DATE, SOURCE))
        if header is not None:
            break
    if header is None:
        raise ValidationFailed(
            f"«{filename}» no tiene las columnas de una lista de precios.", expected=LIST_EXPECTED
        )
    problems: list[Problem] = []
    missing: dict[str, int] = {}
    found: list[Observed] = []
    for number, row in header.rows():
        where: dict[str, Any] = {"sheet": header.sheet.name, "row": number}
        raw_clave = header.value(row, CLAVE.key)
        try:
            clave = str(parse_clave(raw_clave))
        except ClaveError as error:
            problems.append(error.problem(column="Clave", **where))
            continue
        raw_price = header.value(row, PRICE.key)
        try:
            price = _money(raw_price)
        except (ValueError, InvalidOperation):
            problems.append(
                Problem(
                    "precio no válido",
                    column="Precio unitario",
                    value=str(raw_price),
                    expected="un importe mayor que cero",
                    **where,
                )
            )
            continue
        currency = (text(header.value(row, CURRENCY.key)) or "MXN").upper()
        rate = _rate(currency, rates)
        if rate is None:
            missing[currency] = missing.get(currency, 0) + 1
            continue
        observed = header.value(row, DATE.key)
        found.append(
            Observed(
                clave=clave,
                unit_price=_mxn(price, rate),
                original_price=price,
                currency=currency,
                rate=rate,
                observed_on=_date(observed),
                source=text(header.value(row, SOURCE.key)) or filename,
                source_ref=f"{header.sheet.name}!{number}",
            )
        )
    problems.extend(_missing_rates(missing))
    if problems:
        raise ValidationFailed(
            f"«{filename}»: {count_of(len(problems), 'problema', 'problemas')}; "
            "no se importó ningún precio.",
            problems=problems,
        )
    if not found:
        raise ValidationFailed(f"«{filename}» no tiene precios.", expected=LIST_EXPECTED)
    return found


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
        except ValueError:
            return None
    return None


# ----- OCDS ----------------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _classified(item: dict[str, Any], mapping: Mapping[tuple[str, str], str]) -> str | None:
    classifications = [
        item.get("classification"),
        *_listed(item.get("additionalClassifications")),
    ]
    for found in classifications:
        if not isinstance(found, dict):
            continue
        # Publishers pad ids ("010.000.0104.00   "): trimmed, or `--map` never matches them.
        scheme, code = str(found.get("scheme", "")).strip(), str(found.get("id", "")).strip()
        if (scheme, code) in mapping:
            return mapping[(scheme, code)]
        try:
            return str(parse_clave(code))
        except ClaveError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class OcdsRead:
    observed: list[Observed]
    releases: int
    items: int
    """Items of awards and contracts with a unit value (as often as the file repeats them)."""
    unmatched: int
    """Items with a unit value whose classification matched no clave (counted, not imported)."""
    unmatched_ids: Counter[str] = field(default_factory=Counter)
    """Those items' classifications, as «SCHEME:id», to map with ``--map``."""
    unpriced: int = 0
    """Items of awards and contracts without a unit value."""


TOP_UNMATCHED = 5
"""How many unmatched classifications a refusal names (the most frequent)."""


def _classification_label(item: dict[str, Any]) -> str:
    found = item.get("classification")
    if not isinstance(found, dict) or not str(found.get("id", "")).strip():
        return "(sin clasificación)"
    return f"{str(found.get('scheme', '')).strip()}:{str(found.get('id', '')).strip()}"


def _nothing_priced(
    filename: str, releases: list[tuple[str, dict[str, Any]]], read: OcdsRead
) -> ValidationFailed:
    """Why a file gave no price at all, with the counts: no items, items without a unit price,
    or no item whose classification is (or maps to) a clave."""
    if not read.items and not read.unpriced:
        parts = {
            stage: sum(len(_listed(r.get(stage))) for _, r in releases)
            for stage in ("awards", "contracts")
        }
        return ValidationFailed(
            f"«{filename}»: ninguna adjudicación ni contrato tiene artículos (items): "
            f"{count_of(len(releases), 'entrega', 'entregas')}, "
            f"{count_of(parts['awards'], 'adjudicación', 'adjudicaciones')} y "
            f"{count_of(parts['contracts'], 'contrato', 'contratos')} leídos; "
            "no se importó ningún precio.",
            expected="adjudicaciones (awards) o contratos (contracts) con items",
        )
    if not read.items:
        return ValidationFailed(
            f"«{filename}»: {count_of(read.unpriced, 'artículo', 'artículos')} en adjudicaciones "
            "y contratos, "
            "ninguno con precio unitario (unit.value.amount); no se importó ningún precio.",
            expected="items con unit.value (importe y moneda)",
        )
    top = read.unmatched_ids.most_common(TOP_UNMATCHED)
    return ValidationFailed(
        f"«{filename}»: {count_of(read.items, 'artículo', 'artículos')} con precio unitario, "
        "ninguno con una clave del Compendio ni una correspondencia; "
        + count_of(len(read.unmatched_ids), "clasificación distinta", "clasificaciones distintas")
        + f" (las {len(top)} más frecuentes, abajo). No se importó ningún precio.",
        problems=[
            Problem(
                f"Clasificación sin clave ({count_of(count, 'artículo', 'artículos')})",
                field="classification",
                value=label,
                expected=f"«--map {label}=CLAVE»"
                if label != "(sin clasificación)"
                else "una clasificación con la clave del Compendio",
            )
            for label, count in top
        ],
    )


def read_ocds(
    content: bytes,
    filename: str,
    rates: Mapping[str, Decimal],
    mapping: Mapping[tuple[str, str], str],
) -> OcdsRead:
    """Unit values of awards' and contracts' items, as MXN prices per clave."""
    releases = [
        (found.where, found.release)
        for found in reader.read(
            content, filename, expected=OCDS_EXPECTED, strict=True, skipped=Counter()
        )
    ]
    if not releases:
        raise ValidationFailed(
            f"«{filename}» es JSON pero no OCDS: no tiene entregas (releases) ni registros "
            "(records) con ocid.",
            expected=OCDS_EXPECTED,
        )
    found: list[Observed] = []
    missing: dict[str, int] = {}
    problems: list[Problem] = []
    items = unmatched = unpriced = 0
    unmatched_ids: Counter[str] = Counter()
    seen: set[tuple[str, str, str]] = set()
    # An item published in an award and again in its contract (in the same release or in
    # another of the process) is one price, dated when the contract was signed: every
    # contract is read first, and what an award repeats of it is skipped.
    contracted: set[tuple[str, str, str]] = set()
    for stage in ("contracts", "awards"):
        for where, release in releases:
            ocid = release.get("ocid")
            if not isinstance(ocid, str) or not ocid:
                if stage == "contracts":
                    problems.append(Problem("Entrega sin ocid", field=where, expected="un ocid"))
                continue
            for index, part in enumerate(_listed(release.get(stage))):
                if not isinstance(part, dict):
                    continue
                signed = part.get("dateSigned") if stage == "contracts" else None
                when = _date(signed or part.get("date") or release.get("date"))
                for item_index, item in enumerate(_listed(part.get("items"))):
                    # Other publishers' data is not always well formed: what is not an item
                    # with a unit value is skipped, never a crash.
                    unit = item.get("unit") if isinstance(item, dict) else None
                    value = unit.get("value") if isinstance(unit, dict) else None
                    if not isinstance(value, dict) or "amount" not in value:
                        unpriced += 1
                        continue
                    items += 1
                    ref = f"{ocid}/{stage}/{part.get('id', index)}/{item.get('id', item_index)}"
                    clave = _classified(item, mapping)
                    if clave is None:
                        unmatched += 1
                        unmatched_ids[_classification_label(item)] += 1
                        continue
                    if stage == "contracts":
                        contracted.add((ocid, str(part.get("awardID")), clave))
                    elif (ocid, str(part.get("id")), clave) in contracted:
                        continue
                    try:
                        amount = _money(value["amount"])
                    except (ValueError, InvalidOperation):
                        problems.append(
                            Problem(
                                "Importe unitario no válido",
                                field=f"{where}.{stage}[{index}].items[{item_index}]",
                                value=str(value["amount"]),
                                expected="un importe mayor que cero",
                            )
                        )
                        continue
                    currency = str(value.get("currency") or "").upper()
                    rate = _rate(currency, rates) if currency else None
                    if rate is None:
                        missing[currency or "(sin moneda)"] = (
                            missing.get(currency or "(sin moneda)", 0) + 1
                        )
                        continue
                    # The same item in a release and in its record's compiled release counts once.
                    key = (clave, ref, str(amount))
                    if key in seen:
                        continue
                    seen.add(key)
                    found.append(
                        Observed(
                            clave=clave,
                            unit_price=_mxn(amount, rate),
                            original_price=amount,
                            currency=currency,
                            rate=rate,
                            observed_on=when,
                            source=ocid,
                            source_ref=ref,
                        )
                    )
    problems.extend(_missing_rates(missing))
    if problems:
        raise ValidationFailed(
            f"«{filename}»: {count_of(len(problems), 'problema', 'problemas')}; "
            "no se importó ningún precio.",
            problems=problems,
        )
    read = OcdsRead(found, len(releases), items, unmatched, unmatched_ids, unpriced)
    if not found:
        raise _nothing_priced(filename, releases, read)
    return read
