"""Another publisher's OCDS data as the flat input of the indicators.

Accepted: whatever ``transparency.ocds.reader`` reads (line-delimited compiled releases, release
and record packages, records, JSON lists of them); releases of one ocid in a release package are
compiled in date order. Each contracting process is one lot.

A file from which nothing usable comes out is refused, saying which case it was: no process
with an ocid (with what was skipped, reason by reason), or processes of which no indicator reads
anything (no complete tender period, number of tenderers, bids, awards or contracts).

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

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import count_of
from abasto.transparency.ocds import reader
from abasto.transparency.redflags.flat import Frames, table

EXPECTED = (
    "compiled releases OCDS en líneas (JSON por línea), un release package, un record package, "
    "un registro o una lista JSON de registros o entregas"
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
            problems=_skipped(skipped),
        )
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for release in compiled:
        _flatten(release, rows, skipped)
    periods = sum(1 for r in rows["processes"] if r["tender_start"] and r["tender_end"])
    counted = sum(1 for r in rows["lots"] if r["number_of_tenderers"] is not None)
    if not (periods or counted or rows["bids"] or rows["awards"] or rows["contracts"]):
        raise ValidationFailed(
            f"«{filename}»: "
            f"{count_of(len(compiled), 'proceso', 'procesos')} de contratación sin nada que un "
            "indicador lea: ninguno tiene periodo de presentación completo, número de "
            "licitantes, proposiciones (bids.details), adjudicaciones ni contratos.",
            expected="tender.tenderPeriod, tender.numberOfTenderers, bids, awards o contracts",
            problems=_skipped(skipped),
        )
    seen = Counter(
        r["currency"] for name in ("bids", "awards") for r in rows[name] if r["currency"]
    )
    main = currency or (seen.most_common(1)[0][0] if seen else "MXN")
    foreign = sum(n for code, n in seen.items() if code != main)
    if foreign:
        skipped[f"importes en moneda distinta de {main} (no se comparan)"] += foreign
    frames = Frames(currency=main, **{name: table(name, rows[name]) for name in _TABLES})
    return Loaded(frames=frames, processes=len(compiled), skipped=skipped)


def _skipped(skipped: Counter[str]) -> list[Problem]:
    """What was left out while reading, reason by reason with its count."""
    return [Problem(f"{reason}: {n:,}") for reason, n in sorted(skipped.items())]


_TABLES = ("processes", "lots", "bids", "awards", "award_items", "contracts", "parties")


def _compiled_releases(
    content: bytes, filename: str, skipped: Counter[str]
) -> Iterator[dict[str, Any]]:
    found = reader.read(content, filename, expected=EXPECTED, strict=False, skipped=skipped)
    yield from reader.compiled(found, skipped)


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


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lots(ocid: str, tender: dict[str, Any], bids: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The published lots (lots extension), each with its bidders when ``bids.statistics``
    gives them per lot (measure ``bidders``, ``relatedLot``)."""
    bidders: dict[str, int | None] = {}
    for statistic in bids.get("statistics") or []:
        if isinstance(statistic, dict) and statistic.get("measure") == "bidders":
            lot = _text(statistic.get("relatedLot"))
            if lot is not None:
                bidders[lot] = _count(statistic.get("value"))
    found: dict[str, dict[str, Any]] = {}
    for lot in tender.get("lots") or []:
        lot_id = _text(lot.get("id")) if isinstance(lot, dict) else None
        if lot_id is None:
            continue
        found[f"{ocid}/{lot_id}"] = {
            "lot_id": f"{ocid}/{lot_id}",
            "process_id": ocid,
            "label": _text(lot.get("title")) or lot_id,
            "number_of_tenderers": bidders.get(lot_id),
        }
    return found


def _bid_amount(
    bid: dict[str, Any], one_lot: bool, skipped: Counter[str]
) -> tuple[Decimal | None, str | None]:
    """What a bid is compared by: its value; but a bid for one lot with one priced item, by
    that unit price, since bidders for a lot may offer different quantities (an Abasto
    partida's bidder offers up to its maximum, and several may share it)."""
    items = [i for i in bid.get("items") or [] if isinstance(i, dict)]
    if one_lot and len(items) == 1:
        price = _money(_obj(items[0].get("unit")).get("value"), skipped)
        if price[0] is not None:
            return price
    return _money(bid.get("value"), skipped)


def _reference_prices(
    tender: dict[str, Any], skipped: Counter[str]
) -> dict[str, tuple[Decimal, str | None]]:
    """Each tender item's unit value (the estimated or reference price), by item id."""
    found: dict[str, tuple[Decimal, str | None]] = {}
    for item in tender.get("items") or []:
        if isinstance(item, dict) and _text(item.get("id")):
            price, code = _money(_obj(item.get("unit")).get("value"), skipped)
            if price is not None:
                found[str(_text(item.get("id")))] = (price, code)
    return found


def _award_item(
    award_id: str,
    item: dict[str, Any],
    reference: dict[str, tuple[Decimal, str | None]],
    skipped: Counter[str],
) -> dict[str, Any]:
    classification = item.get("classification")
    price, price_code = _money(_obj(item.get("unit")).get("value"), skipped)
    ref, ref_code = reference.get(_text(item.get("id")) or "", (None, None))
    quantity = item.get("quantity")
    quantity = (
        float(quantity)
        if isinstance(quantity, int | float) and not isinstance(quantity, bool)
        else None
    )
    return {
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
        # A reference in another currency is no reference for this price.
        "reference_price": ref if ref_code == price_code else None,
    }


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
    bids = _obj(release.get("bids"))
    lots = _lots(ocid, tender, bids)
    if lots:
        rows["lots"] += lots.values()
    else:
        tenderers = tender.get("numberOfTenderers")
        rows["lots"].append(
            {
                "lot_id": ocid,
                "process_id": ocid,
                "label": _text(tender.get("title")) or ocid,
                "number_of_tenderers": _count(tenderers),
            }
        )

    def lot_of(related: Any) -> str:
        """The flat lot of an object related to one published lot; the process otherwise."""
        found = [_text(r) for r in related] if isinstance(related, list) else []
        lot_id = f"{ocid}/{found[0]}" if len(found) == 1 else ocid
        return lot_id if lot_id in lots else ocid

    for n, bid in enumerate(bids.get("details") or []):
        if not isinstance(bid, dict):
            continue
        ids = _ids(bid.get("tenderers"))
        lot_id = lot_of(bid.get("relatedLots"))
        amount, code = _bid_amount(bid, lot_id != ocid, skipped)
        rows["bids"].append(
            {
                "bid_id": f"{ocid}/{_text(bid.get('id')) or n}",
                "lot_id": lot_id,
                "tenderer_id": "|".join(ids) or None,
                "tenderers": len(ids),
                "status": _text(bid.get("status")),
                "submitted_at": _instant(bid.get("date"), skipped),
                "amount": amount,
                "currency": code,
                "reason": None,
            }
        )
    reference = _reference_prices(tender, skipped)
    suppliers_of: dict[str, str | None] = {}
    for n, award in enumerate(release.get("awards") or []):
        if not isinstance(award, dict):
            continue
        own_id = _text(award.get("id")) or str(n)
        ids = _ids(award.get("suppliers"))
        suppliers_of[own_id] = "|".join(ids) or None
        items = [i for i in award.get("items") or [] if isinstance(i, dict)]
        by_lot: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            by_lot[lot_of([item.get("relatedLot")]) if lots else ocid].append(item)
        whole = not lots or set(by_lot) <= {ocid}
        if whole:
            # The award as one (Cardinal's reading): for one lot, or for the whole process.
            by_lot = {lot_of(award.get("relatedLots")): items}
        for lot_id, lot_items in by_lot.items():
            award_id = (
                f"{ocid}/{own_id}" if whole else f"{ocid}/{own_id}/{lot_id.rsplit('/', 1)[1]}"
            )
            flat_items = [_award_item(award_id, item, reference, skipped) for item in lot_items]
            if whole:
                amount, code = _money(award.get("value"), skipped)
            else:
                # An award of several lots (one per supplier): each lot's share is its items'.
                priced = [i for i in flat_items if i["amount"] is not None]
                codes = {i["currency"] for i in priced}
                amount = sum((i["amount"] for i in priced), Decimal(0)) if priced else None
                code = codes.pop() if len(codes) == 1 else None
                amount = amount if code else None
            rows["awards"].append(
                {
                    "award_id": award_id,
                    "lot_id": lot_id,
                    "supplier_id": "|".join(ids) or None,
                    "suppliers": len(ids),
                    "status": _text(award.get("status")),
                    "award_date": _instant(award.get("date"), skipped),
                    "amount": amount,
                    "currency": code,
                }
            )
            rows["award_items"] += flat_items
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
