"""Another publisher's OCDS data as the flat input of the indicators.

Accepted: line-delimited compiled releases (one JSON value per line), a release package, a
record package (each record's ``compiledRelease``), or a JSON list of releases. Releases of one
ocid in a release package are compiled with ocdsmerge, in date order (no schema is fetched: its
default merge by ``id`` is enough for the fields read here). Each contracting process is one lot.

Nothing bad stops the run or slips into a flag; each case is skipped and counted, with its
reason in Spanish:

* a line that is not JSON (the whole file not being JSON is an error);
* a release or record without an ``ocid``, or an ocid seen twice in compiled input (the first
  is kept);
* a release without ``date`` among several of one ocid (the ocid is left out: its order is
  unknown); releases of one ocid not in date order are compiled in date order and counted;
* a tender period that ends before it starts (the period is dropped, so R003 cannot misfire);
* a date that does not read (the date is dropped);
* an amount that is not a number, or a currency not in ISO 4217 (the amount is dropped);
* amounts in a currency other than the main one (the most frequent, or ``currency``) are kept
  but never compared: each indicator reads only the main currency.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import ocdsmerge

from abasto.core.errors import ValidationFailed
from abasto.transparency.redflags.flat import Frames, table

EXPECTED = (
    "compiled releases OCDS en líneas (JSON por línea), un release package o un record package"
)
FOUR_PLACES = Decimal("0.0001")

# ISO 4217 active codes (and funds codes OCDS admits); anything else is an unknown currency.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
    TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD
    XCD XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWL""".split()  # noqa: SIM905 (a block reads)
)


@dataclass
class Loaded:
    frames: Frames
    processes: int
    skipped: Counter[str] = field(default_factory=Counter)


def load(content: bytes, filename: str, *, currency: str | None = None) -> Loaded:
    """The file's contracting processes as flat tables, and what was skipped and why."""
    skipped: Counter[str] = Counter()
    compiled = list(_compiled_releases(content, filename, skipped))
    if not compiled:
        raise ValidationFailed(
            f"«{filename}» no contiene ningún proceso de contratación con ocid",
            expected=EXPECTED,
        )
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for release in compiled:
        _flatten(release, rows, skipped)
    seen = Counter(
        r["currency"] for name in ("bids", "awards") for r in rows[name] if r["currency"]
    )
    main = currency or (seen.most_common(1)[0][0] if seen else "MXN")
    foreign = sum(n for code, n in seen.items() if code != main)
    if foreign:
        skipped[f"importes en moneda distinta de {main} (no se comparan)"] += foreign
    frames = Frames(currency=main, **{name: table(name, rows[name]) for name in _TABLES})
    return Loaded(frames=frames, processes=len(compiled), skipped=skipped)


_TABLES = ("processes", "lots", "bids", "awards", "award_items", "contracts", "parties")


def _values(content: bytes, filename: str, skipped: Counter[str]) -> list[Any]:
    """The whole file as one JSON value, or one value per line; not JSON at all is an error."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            f"«{filename}» no es texto UTF-8, así que no es JSON", expected=EXPECTED
        ) from None
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    values: list[Any] = []
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except ValueError:
            bad += 1
    if not values:
        raise ValidationFailed(f"«{filename}» no es JSON", expected=EXPECTED)
    if bad:
        skipped["líneas que no son JSON"] += bad
    return values


def _compiled_releases(
    content: bytes, filename: str, skipped: Counter[str]
) -> Iterator[dict[str, Any]]:
    individual: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()

    def compiled(release: Any) -> Iterator[dict[str, Any]]:
        if not isinstance(release, dict) or not isinstance(release.get("ocid"), str):
            skipped["entregas o registros sin ocid"] += 1
        elif release["ocid"] in seen:
            skipped["ocid repetido (se conserva el primero)"] += 1
        else:
            seen.add(release["ocid"])
            yield release

    for value in _values(content, filename, skipped):
        if isinstance(value, dict) and isinstance(value.get("records"), list):
            for record in value["records"]:
                release = record.get("compiledRelease") if isinstance(record, dict) else None
                if release is None and isinstance(record, dict):
                    skipped["registros sin compiledRelease"] += 1
                    continue
                yield from compiled(_unrecorded(record) if isinstance(release, dict) else release)
        elif isinstance(value, dict) and isinstance(value.get("compiledRelease"), dict):
            # A record: its own `releases` are linked or embedded copies of what it compiles.
            yield from compiled(_unrecorded(value))
        elif isinstance(value, dict) and isinstance(value.get("releases"), list):
            for release in value["releases"]:
                if isinstance(release, dict) and isinstance(release.get("ocid"), str):
                    individual[release["ocid"]].append(release)
                else:
                    skipped["entregas o registros sin ocid"] += 1
        elif isinstance(value, list):
            # Some publishers' APIs answer a bare list of records (or of compiled releases).
            for member in value:
                yield from compiled(_unrecorded(member))
        elif isinstance(value, dict):
            yield from compiled(value)  # a compiled release, with its ocid or without
        else:
            skipped["valores JSON que no son objeto (entrega, paquete ni registro)"] += 1
    merger = ocdsmerge.Merger(merge_rules={})
    for ocid, releases in individual.items():
        if len(releases) == 1:
            yield from compiled(releases[0])
            continue
        dates = [r.get("date") for r in releases]
        if not all(isinstance(d, str) for d in dates):
            skipped["procesos con una entrega sin fecha (orden desconocido)"] += 1
            continue
        if dates != sorted(str(d) for d in dates):
            skipped["procesos con entregas fuera de orden de fecha (se compilaron por fecha)"] += 1
        yield from compiled({**merger.create_compiled_release(releases), "ocid": ocid})


def _unrecorded(value: Any) -> Any:
    """A record's compiled release (with the record's ocid); anything else as it is."""
    if isinstance(value, dict) and isinstance(value.get("compiledRelease"), dict):
        release = value["compiledRelease"]
        return release if "ocid" in release else {**release, "ocid": value.get("ocid")}
    return value


def _obj(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object; an empty one otherwise (a malformed field)."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _instant(value: Any, skipped: Counter[str]) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        skipped["fechas ilegibles (se omitieron)"] += 1
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _money(value: Any, skipped: Counter[str]) -> tuple[Decimal | None, str | None]:
    if not isinstance(value, dict) or value.get("amount") is None:
        return None, None
    amount, code = value.get("amount"), value.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        skipped["importes que no son número (se omitieron)"] += 1
        return None, None
    try:
        exact = Decimal(str(amount)).quantize(FOUR_PLACES)
    except InvalidOperation:
        skipped["importes que no son número (se omitieron)"] += 1
        return None, None
    if not exact.is_finite():
        skipped["importes que no son número (se omitieron)"] += 1
        return None, None
    if code not in CURRENCIES:
        skipped["importes en moneda desconocida (se omitieron)"] += 1
        return None, None
    return exact, code


def _ids(organizations: Any) -> list[str]:
    if not isinstance(organizations, list):
        return []
    found = (_text(o.get("id")) for o in organizations if isinstance(o, dict))
    return sorted({i for i in found if i})


def _flatten(
    release: dict[str, Any], rows: dict[str, list[dict[str, Any]]], skipped: Counter[str]
) -> None:
    ocid = release["ocid"]
    tender = _obj(release.get("tender"))
    buyer = _obj(release.get("buyer"))
    period = _obj(tender.get("tenderPeriod"))
    start = _instant(period.get("startDate"), skipped)
    end = _instant(period.get("endDate"), skipped)
    if start and end and end < start:
        skipped["periodos de presentación que terminan antes de empezar (se omitieron)"] += 1
        start = end = None
    rows["processes"].append(
        {
            "process_id": ocid,
            "title": _text(tender.get("title")),
            "buyer_id": _text(buyer.get("id")),
            "buyer_name": _text(buyer.get("name")),
            "method": _text(tender.get("procurementMethod")),
            "method_details": _text(tender.get("procurementMethodDetails")),
            "tender_start": start,
            "tender_end": end,
        }
    )
    tenderers = tender.get("numberOfTenderers")
    rows["lots"].append(
        {
            "lot_id": ocid,
            "process_id": ocid,
            "label": _text(tender.get("title")) or ocid,
            "number_of_tenderers": tenderers
            if isinstance(tenderers, int) and not isinstance(tenderers, bool)
            else None,
        }
    )
    bids = _obj(release.get("bids"))
    for n, bid in enumerate(bids.get("details") or []):
        if not isinstance(bid, dict):
            continue
        ids = _ids(bid.get("tenderers"))
        amount, code = _money(bid.get("value"), skipped)
        rows["bids"].append(
            {
                "bid_id": f"{ocid}/{_text(bid.get('id')) or n}",
                "lot_id": ocid,
                "tenderer_id": "|".join(ids) or None,
                "tenderers": len(ids),
                "status": _text(bid.get("status")),
                "submitted_at": _instant(bid.get("date"), skipped),
                "amount": amount,
                "currency": code,
                "reason": None,
            }
        )
    suppliers_of: dict[str, str | None] = {}
    for n, award in enumerate(release.get("awards") or []):
        if not isinstance(award, dict):
            continue
        award_id = f"{ocid}/{_text(award.get('id')) or n}"
        ids = _ids(award.get("suppliers"))
        suppliers_of[_text(award.get("id")) or str(n)] = "|".join(ids) or None
        amount, code = _money(award.get("value"), skipped)
        rows["awards"].append(
            {
                "award_id": award_id,
                "lot_id": ocid,
                "supplier_id": "|".join(ids) or None,
                "suppliers": len(ids),
                "status": _text(award.get("status")),
                "award_date": _instant(award.get("date"), skipped),
                "amount": amount,
                "currency": code,
            }
        )
        for item in award.get("items") or []:
            if not isinstance(item, dict):
                continue
            classification = item.get("classification")
            unit = _obj(item.get("unit"))
            price, price_code = _money(unit.get("value"), skipped)
            quantity = item.get("quantity")
            quantity = (
                float(quantity)
                if isinstance(quantity, int | float) and not isinstance(quantity, bool)
                else None
            )
            rows["award_items"].append(
                {
                    "award_id": award_id,
                    "classification": _text(classification.get("id"))
                    if isinstance(classification, dict)
                    else None,
                    "quantity": quantity,
                    "unit_price": price,
                    "amount": (price * Decimal(str(quantity))).quantize(FOUR_PLACES)
                    if price is not None and quantity is not None
                    else None,
                    "currency": price_code,
                    "reference_price": None,
                }
            )
    for n, contract in enumerate(release.get("contracts") or []):
        if not isinstance(contract, dict):
            continue
        amount, code = _money(contract.get("value"), skipped)
        rows["contracts"].append(
            {
                "contract_id": f"{ocid}/{_text(contract.get('id')) or n}",
                "process_id": ocid,
                "buyer_id": _text(buyer.get("id")),
                "supplier_id": suppliers_of.get(_text(contract.get("awardID")) or ""),
                "amount": amount,
                "currency": code,
                "signed_at": _instant(contract.get("dateSigned"), skipped),
            }
        )
    for party in release.get("parties") or []:
        if isinstance(party, dict) and _text(party.get("id")):
            rows["parties"].append(
                {
                    "party_id": _text(party.get("id")),
                    "name": _text(party.get("name")),
                    "registered_on": None,
                }
            )
