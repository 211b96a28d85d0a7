"""OCDS releases read from the ledger: one per public ledger entry that is a stage of a tender.

A tender is one contracting process, ``ocid = {prefix}-{tender number}``; the release of the
ledger entry ``seq`` is ``{ocid}-{seq}``, dated at the entry's instant. What a payload lacks is
read from rows that are fixed once their event happened (the partidas and their demand at
publication, the fallo's outcomes and contract drafts) and from earlier ledger entries (a clave's
description, an institution's name, as the catalog and the registry said at that seq), never from
state that changes later: the same ledger always gives the same releases.

Mapping:

- ``tender.publish`` → tag ``tender`` (and ``planning`` when the tender came from a demand round),
  with one lot per partida (lots extension) and each item related to its lot.
- ``tender.amend`` → ``tenderAmendment``; ``tender.cancel`` → ``tenderCancellation``.
- ``question.answer`` → ``tenderUpdate`` with ``tender.enquiries`` (enquiry extension).
- ``bid.open`` → ``tenderUpdate`` with one ``bids.details`` entry per partida the bid offers
  (``{bid}/{partida}``, related to its lot, its item and unit price; bids extension): only after
  the opening started, so no release before it holds a price or a bidder.
- ``tender.opened`` → ``tenderUpdate`` with ``bids.statistics`` (bidders per lot too).
- ``partida.desierta`` → ``award``: an unsuccessful award for the partida.
- ``fallo.issue`` → ``award`` and ``contract``: an award per winning supplier (related to its
  lots and lot bids), an unsuccessful one per partida desierta, a pending contract per
  institution × supplier (the drafts), each lot bid's status from the fallo (``valid`` when
  solvent, ``disqualified`` when not), and the reference prices of the market research:
  ``tender.value`` (their total), each tender item's ``unit.value`` and each lot's value.

The contract made from those drafts (``contracts`` domain, ledger entity ``contract:{id}``)
belongs to its tender's process and keeps the draft's OCDS id ``{institution}-{rfc}``:

- ``contract.create`` → ``contract``: pending, with its period, value (the maximum amount before
  IVA) and items (each partida's clave, maximum quantity and unit price).
- ``contract.sign`` → ``contractUpdate``: the signed PDF as a ``contractSigned`` document (its
  SHA-256; the PDF is not public, so no url); ``dateSigned`` once both parties signed (the
  later signature). ``contract.guarantee``/``contract.guarantee_exempt`` → ``contractUpdate``
  with the guarantee as a ``contractGuarantees`` document; ``contract.effective`` → ``active``.
- ``contract.amend`` (a convenio modificatorio) → ``contractAmendment``: an amendment (date,
  rationale, the changes, ``amendsReleaseID`` the contract's previous release and ``releaseID``
  this one) with the new value, maxima and end.
- ``order.issue`` → ``implementation``: a delivery milestone per supply order (due at the end of
  its due day in Mexico City, ``scheduled``); ``shipment.receive`` → ``implementationUpdate``:
  a milestone per receipt (``met`` when pieces were accepted, ``notMet`` when all were
  rejected) and the order's milestone ``met`` once all its pieces are accepted (else
  ``partiallyMet``); ``dateMet`` after ``dueDate`` is a late delivery, and the description says by
  how many days (the closed milestone codelist has no «late»); ``order.close`` →
  ``implementationUpdate``: the order ``notMet`` or ``partiallyMet``, closed short.
- ``contract.concluido`` → ``contractTermination``, ``terminated``; ``contract.rescindido`` →
  ``terminated`` once it was in force, ``cancelled`` before.

The contracts domain records no payments: no ``implementation.transactions`` are published.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import Session

from abasto.award.models import ContractDraft, Fallo, FalloOutcome
from abasto.catalog.models import Clave
from abasto.contracts.models import Contract
from abasto.contracts.rules import REJECTION_REASONS
from abasto.core.ledger import LedgerEntry, format_instant
from abasto.core.money import MEXICO_CITY, count_of, format_date, format_int, format_mxn
from abasto.demand.models import DemandRound
from abasto.demand.service import BUYER_KIND
from abasto.identity.models import Institution, Supplier
from abasto.tendering import rules as tendering_rules
from abasto.tendering.live import feed_entity
from abasto.tendering.models import Partida, PartidaDemand, Tender
from abasto.tendering.service import MATCHES

TENDER_STAGES = (
    "tender.publish",
    "tender.amend",
    "tender.cancel",
    "question.answer",
    "bid.open",
    "tender.opened",
    "partida.desierta",
    "fallo.issue",
)
CONTRACT_STAGES = (
    "contract.create",
    "contract.sign",
    "contract.guarantee",
    "contract.guarantee_exempt",
    "contract.effective",
    "contract.amend",
    "contract.concluido",
    "contract.rescindido",
    "order.issue",
    "order.close",
    "shipment.receive",
)
"""Stages of a contract made from the tender's fallo (its ledger entity ``contract:{id}``)."""
STAGES = TENDER_STAGES + CONTRACT_STAGES
"""The ledger actions that are a stage of a contracting process; every other one is not."""
CONTRACT_ENTITY = "contract:"

CURRENCY = "MXN"
CLAVE_SCHEME = "MX-CNIS"
"""Items are classified by clave of the Compendio Nacional de Insumos para la Salud."""
CUCOP_SCHEME = "MX-CUCOP"
"""The Clasificador Único de las Contrataciones Públicas, where the catalog gives it."""
RFC_SCHEME = "MX-RFC"
INSTITUTION_SCHEME = "MX-ABASTO"
"""Institutions by their code in Abasto's registry (IMSS, ISSSTE…): they have no RFC stored."""
BIDS_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/"
    "master/extension.json"
)
"""The bids extension as it stands after v1.1.5: the version that defines ``Bid.items``,
``Bid.relatedLots`` and ``Award.relatedBids`` (v1.1.5 has none of them)."""
LOTS_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/"
    "v1.1.5/extension.json"
)
"""``tender.lots`` (one per partida), ``Item.relatedLot`` and ``Award.relatedLots``."""
PAGINATION_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_pagination_extension/"
    "master/extension.json"
)
"""``links.next`` / ``links.prev`` of the API's release packages."""
ENQUIRY_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_enquiry_extension/"
    "v1.1.5/extension.json"
)
EXTENSIONS = (BIDS_EXTENSION, ENQUIRY_EXTENSION, LOTS_EXTENSION, PAGINATION_EXTENSION)
ROLE_ORDER = ("buyer", "procuringEntity", "payer", "tenderer", "supplier")
AWARDED_OUTCOMES = frozenset({"adjudicada", "solvente"})
"""A bid's line in one of these outcomes was solvent: its status in OCDS is ``valid``."""


def lot_bid_id(bid: str, partida: int) -> str:
    """A bid's detail for one partida (the bids extension models a bid per lot)."""
    return f"{bid}/{partida}"


def ocid_of(prefix: str, number: str) -> str:
    return f"{prefix}-{number}"


def money(amount: Decimal | str | int) -> dict[str, Any]:
    """An OCDS Value: the amount as a JSON number (exact: an int when whole), in MXN."""
    value = Decimal(amount)
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    return {"amount": number, "currency": CURRENCY}


def instant(value: datetime | str) -> str:
    """One form for every date: ISO 8601 in UTC with microseconds, as the ledger writes it."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_instant(value)


def day_start(day: date | str) -> str:
    """The first instant of a natural day in Mexico City (a contract's start)."""
    return instant(datetime.combine(_day(day), time.min, MEXICO_CITY))


def day_end(day: date | str) -> str:
    """The last instant of a natural day in Mexico City (a contract's end, an order's due day:
    delivered on that day is on time)."""
    return instant(datetime.combine(_day(day), time.max, MEXICO_CITY))


def _day(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def contract_ocds_id(code: str, rfc: str) -> str:
    """A contract of one institution with one supplier: the same id as the fallo's draft."""
    return f"{code}-{rfc}"


def award_ocds_id(rfc: str) -> str:
    return f"adjudicacion-{rfc}"


# ----- what is fixed once it happened -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: datetime
    action: str
    entity: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: Row[Any]) -> Entry:
        return cls(row.seq, row.at, row.action, row.entity, json.loads(row.payload))


class Directory:
    """Names as the ledger said at a given seq: claves (catalog) and institutions (registry).

    Each is folded from its ``*.create``/``*.register`` payload and the ``changes`` of later
    updates, so a clave renamed tomorrow does not rename it in today's releases. Loaded on demand
    and kept for the life of one request or export.
    """

    def __init__(self, db: Session) -> None:
        self.db = db
        self._history: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._buyers: list[tuple[int, dict[str, Any]]] | None = None

    def load(self, entities: Iterable[str]) -> None:
        missing = sorted({e for e in entities if e not in self._history})
        for entity in missing:
            self._history[entity] = []
        for start in range(0, len(missing), 500):
            rows = self.db.execute(
                select(LedgerEntry.seq, LedgerEntry.action, LedgerEntry.entity, LedgerEntry.payload)
                .where(LedgerEntry.entity.in_(missing[start : start + 500]))
                .where(
                    LedgerEntry.action.in_(("clave.create", "clave.update", "institution.register"))
                )
                .order_by(LedgerEntry.seq)
            )
            for seq, _action, entity, payload in rows:
                self._history[entity].append((seq, json.loads(payload)))

    def as_of(self, entity: str, seq: int) -> dict[str, Any]:
        self.load([entity])
        state: dict[str, Any] = {}
        for at, data in self._history[entity]:
            if at > seq:
                break
            changes = data.get("changes")
            if isinstance(changes, dict):
                state.update({name: change["new"] for name, change in changes.items()})
            else:
                state.update(data)
        return state

    def buyer(self, seq: int) -> dict[str, Any] | None:
        """The coordinating buyer (kind «compra consolidada») registered before ``seq``."""
        if self._buyers is None:
            # Canonical JSON writes the kind exactly so: the filter needs no JSON functions.
            rows = self.db.execute(
                select(LedgerEntry.seq, LedgerEntry.payload)
                .where(LedgerEntry.action == "institution.register")
                .where(LedgerEntry.payload.contains(f'"kind":{json.dumps(BUYER_KIND)}'))
                .order_by(LedgerEntry.seq)
            )
            self._buyers = [(s, json.loads(p)) for s, p in rows]
        found = [data for at, data in self._buyers if at < seq]
        return found[0] if found else None


@dataclass(frozen=True, slots=True)
class PartidaFacts:
    number: int
    clave: str
    min_qty: int
    max_qty: int


@dataclass(frozen=True, slots=True)
class ContractFacts:
    """A contract's parties and number: fixed when it is made."""

    number: str
    institution: str
    rfc: str


@dataclass
class Facts:
    """A tender's rows that do not change after publication (its contracts', once made)."""

    tender_id: int
    number: str
    round_name: str | None
    partidas: dict[int, PartidaFacts]
    payers: list[str]
    """Codes of the institutions whose demand the tender buys."""
    contracts: dict[int, ContractFacts] = field(default_factory=dict)

    def partida_of(self, clave: str) -> int | None:
        """The partida that tenders a clave (one per clave)."""
        return next((p.number for p in self.partidas.values() if p.clave == clave), None)

    @classmethod
    def load(cls, db: Session, tender_id: int) -> Facts:
        tender = db.execute(
            select(Tender.number, DemandRound.name)
            .outerjoin(DemandRound, DemandRound.id == Tender.round_id)
            .where(Tender.id == tender_id)
        ).one()
        partidas = {
            number: PartidaFacts(number, clave, low, high)
            for number, clave, low, high in db.execute(
                select(Partida.number, Clave.clave, Partida.min_qty, Partida.max_qty)
                .join(Clave, Clave.id == Partida.clave_id)
                .where(Partida.tender_id == tender_id)
                .order_by(Partida.number)
            )
        }
        payers = db.scalars(
            select(Institution.code)
            .distinct()
            .join(PartidaDemand, PartidaDemand.institution_id == Institution.id)
            .join(Partida, Partida.id == PartidaDemand.partida_id)
            .where(Partida.tender_id == tender_id)
            .order_by(Institution.code)
        ).all()
        contracts = {
            row.id: ContractFacts(row.number, row.code, row.rfc)
            for row in db.execute(
                select(Contract.id, Contract.number, Institution.code, Supplier.rfc)
                .join(Institution, Institution.id == Contract.institution_id)
                .join(Supplier, Supplier.id == Contract.supplier_id)
                .where(Contract.tender_id == tender_id)
            )
        }
        return cls(tender_id, tender.number, tender.name, partidas, list(payers), contracts)


@dataclass
class OrderState:
    """A supply order as its entries so far left it."""

    clave: str
    quantity: int
    due_on: date
    unit: str
    accepted: int = 0


@dataclass
class ContractState:
    """A contract as its entries so far left it: what a later release must know."""

    facts: ContractFacts
    lines: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    """Clave → (maximum quantity, unit price)."""
    minimum: int = 0
    """Pieces of the contracted minima, in total (convenios only raise maxima)."""
    signatures: dict[str, datetime] = field(default_factory=dict)
    in_force: bool = False
    last_release: str | None = None
    orders: dict[int, OrderState] = field(default_factory=dict)

    @property
    def ocds_id(self) -> str:
        return contract_ocds_id(self.facts.institution, self.facts.rfc)

    @property
    def description(self) -> str:
        maximum = sum(quantity for quantity, _ in self.lines.values())
        return (
            f"Contrato abierto {self.facts.number}: de {format_int(self.minimum)} a "
            f"{format_int(maximum)} piezas en total; importe máximo antes de IVA."
        )


Built = tuple[list[str], dict[str, Any], list[str]]
"""A stage's tags, the release's sections, and the parties it names (by id)."""


# ----- one contracting process ----------------------------------------------------------------


@dataclass
class Process:
    """Folds a tender's stage entries, in seq order, into its releases.

    Parties carry every role they have had so far: ``roles`` is merged as a whole list, so a
    later release naming a party with fewer roles would take the others away.
    """

    facts: Facts
    directory: Directory
    prefix: str
    published: bool = False
    last_release: str | None = None
    roles: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    bids: dict[str, str | None] = field(default_factory=dict)
    """Opened bid → its supplier's party id (None when it could not be unsealed)."""
    bidders: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Partida → the parties whose opened bid matched its commitment and offered it."""
    signed: dict[int, ContractState] = field(default_factory=dict)
    """The tender's contracts (by their id in Abasto), as their entries so far left them."""

    @property
    def ocid(self) -> str:
        return ocid_of(self.prefix, self.facts.number)

    def release(self, entry: Entry) -> dict[str, Any] | None:
        """The release of this entry, or None for a tender not yet published."""
        if entry.action == "tender.publish":
            self.published = True
        if not self.published:
            return None
        build = getattr(self, "_" + entry.action.replace(".", "_"))
        tags, body, named = build(entry)
        release: dict[str, Any] = {
            "ocid": self.ocid,
            "id": f"{self.ocid}-{entry.seq}",
            "date": instant(entry.at),
            "tag": tags,
            "initiationType": "tender",
            "language": "es",
        }
        if named:
            release["parties"] = [self._party(pid) for pid in named]
        release.update(body)
        self.last_release = release["id"]
        return release

    # -- parties --

    def _name(self, party_id: str, base: dict[str, Any], *roles: str) -> str:
        self.parties.setdefault(party_id, base)
        self.roles[party_id].update(roles)
        return party_id

    def _party(self, party_id: str) -> dict[str, Any]:
        roles = sorted(self.roles[party_id], key=ROLE_ORDER.index)
        return {**self.parties[party_id], "roles": roles}

    def _ref(self, party_id: str) -> dict[str, Any]:
        return {"id": party_id, "name": self.parties[party_id]["name"]}

    def _institution(self, code: str, seq: int, *roles: str) -> str:
        data = self.directory.as_of(f"institution:{code}", seq)
        party_id = f"{INSTITUTION_SCHEME}-{code}"
        name = data.get("name") or code
        base = {
            "id": party_id,
            "name": name,
            "identifier": {"scheme": INSTITUTION_SCHEME, "id": code, "legalName": name},
        }
        return self._name(party_id, base, *roles)

    def _supplier(self, rfc: str, name: str | None, *roles: str) -> str:
        party_id = f"{RFC_SCHEME}-{rfc}"
        shown = name or self.parties.get(party_id, {}).get("name") or rfc
        base = {
            "id": party_id,
            "name": shown,
            "identifier": {"scheme": RFC_SCHEME, "id": rfc, "legalName": shown},
        }
        return self._name(party_id, base, *roles)

    def _buyer(self, seq: int) -> str | None:
        found = self.directory.buyer(seq)
        if found is None:
            return None
        return self._institution(found["code"], seq, "buyer", "procuringEntity")

    # -- items --

    def _item(self, number: int, seq: int, *, full: bool = False) -> dict[str, Any]:
        partida = self.facts.partidas.get(number)
        item: dict[str, Any] = {"id": str(number)}
        if partida is None:
            return item
        item["relatedLot"] = str(number)
        clave = self.directory.as_of(f"clave:{partida.clave}", seq)
        item["classification"] = {"scheme": CLAVE_SCHEME, "id": partida.clave}
        if clave.get("description"):
            item["classification"]["description"] = clave["description"]
        if full:
            if clave.get("description"):
                item["description"] = clave["description"]
            if clave.get("cucop"):
                item["additionalClassifications"] = [
                    {"scheme": CUCOP_SCHEME, "id": str(clave["cucop"])}
                ]
            item["quantity"] = partida.max_qty
            if clave.get("unit"):
                item["unit"] = {"name": clave["unit"]}
        return item

    def _priced(self, number: int, seq: int, quantity: int, price: Decimal | str) -> dict[str, Any]:
        return {**self._item(number, seq), "quantity": quantity, "unit": {"value": money(price)}}

    def _lot(self, number: int, seq: int) -> dict[str, Any]:
        """A partida as a lot: what bids compete for, each with its own status per lot."""
        partida = self.facts.partidas[number]
        lot: dict[str, Any] = {"id": str(number), "title": f"Partida {number}: {partida.clave}"}
        description = self.directory.as_of(f"clave:{partida.clave}", seq).get("description")
        if description:
            lot["description"] = description
        lot["status"] = "active"
        return lot

    # -- stages --

    def _tender_publish(self, entry: Entry) -> Built:
        data, seq, at = entry.data, entry.seq, instant(entry.at)
        self.directory.load(f"clave:{p.clave}" for p in self.facts.partidas.values())
        self.directory.load(f"institution:{code}" for code in self.facts.payers)
        buyer = self._buyer(seq)
        payers = [self._institution(code, seq, "payer") for code in self.facts.payers]
        policy = tendering_rules.procedure(data["procedure"])
        tender: dict[str, Any] = {
            "id": self.facts.number,
            "title": data["title"],
            "status": "active",
            "items": [self._item(n, seq, full=True) for n in self.facts.partidas],
            "lots": [self._lot(n, seq) for n in self.facts.partidas],
            "mainProcurementCategory": "goods",
            "procurementMethod": policy.ocds_method,
            "procurementMethodDetails": data.get("procedure_label") or policy.label,
            "awardCriteria": "priceOnly",
            "awardCriteriaDetails": (
                "Cumplimiento técnico binario; después, el precio solvente más bajo por partida "
                "(o abastecimiento simultáneo, si la convocatoria lo prevé)."
            ),
            "submissionMethod": ["electronicSubmission"],
            "enquiryPeriod": {"startDate": at, "endDate": instant(data["clarification_deadline"])},
            "tenderPeriod": {"startDate": at, "endDate": instant(data["bid_deadline"])},
            # The award period runs from the public opening to the announced fallo.
            "awardPeriod": {
                "startDate": instant(data["opening_at"]),
                "endDate": instant(data["fallo_at"]),
            },
        }
        rationale = " ".join(
            part for part in (data.get("legal_basis"), data.get("justification")) if part
        )
        if rationale:
            tender["procurementMethodRationale"] = rationale
        body: dict[str, Any] = {"tender": tender}
        tags = ["tender"]
        if buyer is not None:
            tender["procuringEntity"] = self._ref(buyer)
            body["buyer"] = self._ref(buyer)
        if self.facts.round_name is not None:
            tags = ["planning", "tender"]
            body["planning"] = {
                "rationale": (
                    f"Demanda consolidada de la ronda «{self.facts.round_name}»: "
                    f"{count_of(len(self.facts.payers), 'institución', 'instituciones')}, "
                    f"{count_of(len(self.facts.partidas), 'clave', 'claves')} "
                    "con sus cantidades mínimas y máximas."
                ),
                "budget": {
                    "id": self.facts.round_name,
                    "description": (
                        "Cada institución paga sus contratos con su propio presupuesto "
                        f"de la ronda «{self.facts.round_name}»."
                    ),
                },
            }
        named = ([buyer] if buyer else []) + payers
        return tags, body, named

    _PERIODS = {
        "clarification_deadline": ("enquiryPeriod", "endDate"),
        "bid_deadline": ("tenderPeriod", "endDate"),
        "opening_at": ("awardPeriod", "startDate"),
        "fallo_at": ("awardPeriod", "endDate"),
    }

    def _tender_amend(self, entry: Entry) -> Built:
        data = entry.data
        amendment: dict[str, Any] = {
            "id": str(data["amendment"]),
            "date": instant(entry.at),
            "description": data["description"],
            "releaseID": f"{self.ocid}-{entry.seq}",
        }
        if self.last_release:
            amendment["amendsReleaseID"] = self.last_release
        tender: dict[str, Any] = {"id": self.facts.number, "amendments": [amendment]}
        for name, (_old, new) in sorted(data.get("changes", {}).items()):
            if name in self._PERIODS:
                period, end = self._PERIODS[name]
                tender.setdefault(period, {})[end] = instant(new)
        return ["tenderAmendment"], {"tender": tender}, []

    def _tender_cancel(self, entry: Entry) -> Built:
        tender = {
            "id": self.facts.number,
            "status": "cancelled",
            "amendments": [
                {
                    "id": "cancelacion",
                    "date": instant(entry.at),
                    "rationale": entry.data["reason"],
                    "description": "Licitación cancelada.",
                    "releaseID": f"{self.ocid}-{entry.seq}",
                }
            ],
        }
        return ["tenderCancellation"], {"tender": tender}, []

    def _question_answer(self, entry: Entry) -> Built:
        data = entry.data
        enquiry = {
            "id": str(data["question"]),
            "description": data["text"],
            "answer": data["answer"],
            "dateAnswered": instant(entry.at),
        }
        tender = {"id": self.facts.number, "hasEnquiries": True, "enquiries": [enquiry]}
        return ["tenderUpdate"], {"tender": tender}, []

    def _bid_open(self, entry: Entry) -> Built:
        """One bid detail per partida the bid offers (its status is per lot: the fallo may find
        one line solvent and another not), or one for the whole bid when no line is known."""
        data, seq = entry.data, entry.seq
        matches = data.get("check") == MATCHES
        common: dict[str, Any] = {
            "date": instant(data["received_at"]),
            # Matching its commitment, it awaits evaluation; otherwise it is out already.
            "status": "pending" if matches else "disqualified",
        }
        body: dict[str, Any] = {}
        named: list[str] = []
        supplier = data.get("supplier")
        party = None
        if supplier:
            party = self._supplier(supplier["rfc"], supplier.get("razon_social"), "tenderer")
            named.append(party)
            common["tenderers"] = [self._ref(party)]
            body["tender"] = {"id": self.facts.number, "tenderers": [self._ref(party)]}
        self.bids[data["bid"]] = party
        lines = (data.get("content") or {}).get("lines", [])
        details = []
        for line in lines:
            number, quantity, price = (
                int(line["partida"]),
                int(line["quantity"]),
                line["unit_price"],
            )
            details.append(
                {
                    "id": lot_bid_id(data["bid"], number),
                    **common,
                    "relatedLots": [str(number)],
                    "value": money(Decimal(str(price)) * quantity),
                    "items": [self._priced(number, seq, quantity, str(price))],
                }
            )
            if matches and party:
                self.bidders[number].add(party)
        body["bids"] = {"details": details or [{"id": data["bid"], **common}]}
        return ["tenderUpdate"], body, named

    def _tender_opened(self, entry: Entry) -> Built:
        data, at = entry.data, instant(entry.at)
        tenderers = {party for party in self.bids.values() if party}
        statistics = [
            {"id": "bids", "measure": "bids", "value": int(data["opened"]), "date": at},
            {
                "id": "electronicBids",
                "measure": "electronicBids",
                "value": int(data["opened"]),
                "date": at,
            },
            {
                "id": "disqualifiedBids",
                "measure": "disqualifiedBids",
                "value": int(data.get("not_matching", 0)),
                "date": at,
                "notes": "En la apertura: proposiciones que no coinciden con su compromiso.",
            },
        ]
        # Per partida, the bidders whose bid matched its commitment (Cardinal's R018 per lot).
        statistics += [
            {
                "id": f"bidders-{number}",
                "measure": "bidders",
                "value": len(self.bidders[number]),
                "date": at,
                "relatedLot": str(number),
            }
            for number in self.facts.partidas
        ]
        body = {
            "tender": {"id": self.facts.number, "numberOfTenderers": len(tenderers)},
            "bids": {"statistics": statistics},
        }
        return ["tenderUpdate"], body, []

    def _unsuccessful(
        self, number: int, seq: int, at: str, reason: str | None, demand: int | None = None
    ) -> dict[str, Any]:
        item = self._item(number, seq)
        partida = self.facts.partidas.get(number)
        item["quantity"] = demand if demand is not None else (partida.max_qty if partida else 0)
        award: dict[str, Any] = {
            "id": f"desierta-{number}",
            "title": f"Partida {number} desierta",
            "status": "unsuccessful",
            "date": at,
            "items": [item],
            "relatedLots": [str(number)],
        }
        if reason:
            award["description"] = reason
        return award

    def _partida_desierta(self, entry: Entry) -> Built:
        data = entry.data
        award = self._unsuccessful(
            int(data["partida"]), entry.seq, instant(entry.at), data.get("reason")
        )
        return ["award"], {"awards": [award]}, []

    def _fallo_issue(self, entry: Entry) -> Built:
        data, seq, at = entry.data, entry.seq, instant(entry.at)
        buyer = self._buyer(seq)
        fallo_id = self.directory.db.scalar(
            select(Fallo.id).where(Fallo.tender_id == self.facts.tender_id)
        )
        # Winners, grouped by supplier: one award each, related to its bid.
        won: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        awards: list[dict[str, Any]] = []
        for partida in data["partidas"]:
            for winner in partida["winners"]:
                won[winner["supplier"]].append((int(partida["partida"]), winner))
            if partida["status"] == "desierta":
                awards.append(
                    self._unsuccessful(
                        int(partida["partida"]), seq, at, partida.get("reason"), partida["demand"]
                    )
                )
        suppliers = {rfc: self._supplier(rfc, None, "tenderer", "supplier") for rfc in won}
        winning = []
        for rfc, lines in sorted(won.items()):
            party = suppliers[rfc]
            total = sum(
                (Decimal(str(w["unit_price"])) * int(w["quantity"]) for _, w in lines), Decimal(0)
            )
            award = {
                "id": award_ocds_id(rfc),
                "title": f"Adjudicación a {self.parties[party]['name']}",
                "status": "active",
                "date": at,
                "value": money(total),
                "suppliers": [self._ref(party)],
                "items": [
                    self._priced(number, seq, int(w["quantity"]), str(w["unit_price"]))
                    for number, w in lines
                ],
                "relatedLots": [str(number) for number, _ in lines],
                "relatedBids": [lot_bid_id(w["bid"], number) for number, w in lines],
            }
            winning.append(award)
        body: dict[str, Any] = {
            "tender": {"id": self.facts.number, "status": "complete", **self._reference(data)},
            "awards": winning + awards,
        }
        if fallo_id is not None:
            bids, statistics = self._evaluated(fallo_id, at)
            body["bids"] = {"details": bids, "statistics": statistics}
            contracts, payers = self._contracts(fallo_id, seq, suppliers)
            body["contracts"] = contracts
        else:
            payers = []
        tags = ["award", "contract"] if body.get("contracts") else ["award"]
        if buyer is not None:
            body["buyer"] = self._ref(buyer)
        bidders = [party for party in dict.fromkeys(self.bids.values()) if party]
        named = (
            ([buyer] if buyer else [])
            + payers
            + list(dict.fromkeys(bidders + list(suppliers.values())))
        )
        return tags, body, named

    def _reference(self, data: dict[str, Any]) -> dict[str, Any]:
        """The market research the fallo used: the reference total as ``tender.value``, and
        each partida's reference unit price on its tender item and, times its demand, its lot."""
        found: dict[str, Any] = {}
        if data.get("reference_total") is not None:
            found["value"] = money(str(data["reference_total"]))
        priced = [p for p in data["partidas"] if p.get("reference_price") is not None]
        if priced:
            found["items"] = [
                {"id": str(p["partida"]), "unit": {"value": money(str(p["reference_price"]))}}
                for p in priced
            ]
            found["lots"] = [
                {
                    "id": str(p["partida"]),
                    "value": money(Decimal(str(p["reference_price"])) * int(p["demand"])),
                }
                for p in priced
            ]
        return found

    def _evaluated(
        self, fallo_id: int, at: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each evaluated bid's status from the fallo's outcomes, and the counts."""
        outcomes = self.directory.db.execute(
            select(FalloOutcome.bid_id, FalloOutcome.partida_number, FalloOutcome.outcome)
            .where(FalloOutcome.fallo_id == fallo_id)
            .order_by(FalloOutcome.bid_id, FalloOutcome.partida_number)
        ).all()
        details = [
            {
                "id": lot_bid_id(bid, number),
                "status": "valid" if outcome in AWARDED_OUTCOMES else "disqualified",
                "relatedLots": [str(number)],
            }
            for bid, number, outcome in outcomes
        ]
        valid = sum(1 for d in details if d["status"] == "valid")
        statistics = [
            {"id": "validBids", "measure": "validBids", "value": valid, "date": at},
            {
                "id": "disqualifiedBids",
                "measure": "disqualifiedBids",
                "value": len(details) - valid,
                "date": at,
                "notes": "En el fallo: proposiciones por partida no solventes.",
            },
        ]
        return details, statistics

    def _contracts(
        self, fallo_id: int, seq: int, suppliers: dict[str, str]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """One pending contract per institution × supplier, from the fallo's contract drafts."""
        rows = self.directory.db.execute(
            select(
                Institution.code,
                Supplier.rfc,
                Partida.number,
                ContractDraft.min_qty,
                ContractDraft.max_qty,
                ContractDraft.unit_price,
            )
            .join(Institution, Institution.id == ContractDraft.institution_id)
            .join(Supplier, Supplier.id == ContractDraft.supplier_id)
            .join(Partida, Partida.id == ContractDraft.partida_id)
            .where(ContractDraft.fallo_id == fallo_id)
            .order_by(Institution.code, Supplier.rfc, Partida.number)
        ).all()
        grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in rows:
            grouped[(row.code, row.rfc)].append(row)
        self.directory.load(f"institution:{code}" for code, _ in grouped)
        contracts, payers = [], []
        for (code, rfc), lines in grouped.items():
            payer = self._institution(code, seq, "payer")
            payers.append(payer)
            supplier = suppliers.get(rfc) or self._supplier(rfc, None, "supplier")
            low = sum(line.min_qty for line in lines)
            high = sum(line.max_qty for line in lines)
            contracts.append(
                {
                    "id": contract_ocds_id(code, rfc),
                    "awardID": award_ocds_id(rfc),
                    "title": (
                        f"Contrato abierto de {self.parties[payer]['name']} con "
                        f"{self.parties[supplier]['name']}"
                    ),
                    "description": (
                        f"Proyecto de contrato abierto: de {low:,} a {high:,} piezas en total "
                        "(el máximo por partida en cada concepto)."
                    ),
                    "status": "pending",
                    "value": money(
                        sum((line.unit_price * line.max_qty for line in lines), Decimal(0))
                    ),
                    "items": [
                        self._priced(line.number, seq, line.max_qty, line.unit_price)
                        for line in lines
                    ],
                }
            )
        return contracts, list(dict.fromkeys(payers))

    # -- contracts --

    def _contract(self, entry: Entry) -> ContractState:
        contract_id = int(entry.entity.removeprefix(CONTRACT_ENTITY))
        state = self.signed.get(contract_id)
        if state is None:
            state = self.signed[contract_id] = ContractState(self.facts.contracts[contract_id])
        return state

    def _contract_built(
        self, entry: Entry, tag: str, fields: dict[str, Any], named: Sequence[str] = ()
    ) -> Built:
        """A contract's release: its id and award, and what this entry changed."""
        state = self._contract(entry)
        state.last_release = f"{self.ocid}-{entry.seq}"
        contract = {"id": state.ocds_id, "awardID": award_ocds_id(state.facts.rfc), **fields}
        return [tag], {"contracts": [contract]}, list(named)

    def _contract_items(self, state: ContractState, seq: int, claves: Iterable[str]) -> list[Any]:
        items = []
        for clave in claves:
            quantity, price = state.lines[clave]
            number = self.facts.partida_of(clave)
            if number is None:
                item = {"id": clave, "classification": {"scheme": CLAVE_SCHEME, "id": clave}}
                items.append({**item, "quantity": quantity, "unit": {"value": money(price)}})
            else:
                items.append(self._priced(number, seq, quantity, price))
        return items

    def _contract_create(self, entry: Entry) -> Built:
        data, seq = entry.data, entry.seq
        state = self._contract(entry)
        facts = state.facts
        self.directory.load([f"institution:{facts.institution}"])
        payer = self._institution(facts.institution, seq, "payer")
        supplier = self._supplier(facts.rfc, None, "supplier")
        state.lines = {
            line["clave"]: (int(line["max_qty"]), Decimal(str(line["unit_price"])))
            for line in data["lines"]
        }
        state.minimum = sum(int(line["min_qty"]) for line in data["lines"])
        fields = {
            "title": (
                f"Contrato {facts.number} de {self.parties[payer]['name']} con "
                f"{self.parties[supplier]['name']}"
            ),
            "description": state.description,
            "status": "pending",
            "period": {
                "startDate": day_start(data["starts_on"]),
                "endDate": day_end(data["ends_on"]),
            },
            "value": money(str(data["max_amount"])),
            "items": self._contract_items(state, seq, state.lines),
        }
        return self._contract_built(entry, "contract", fields, [payer, supplier])

    def _contract_sign(self, entry: Entry) -> Built:
        data = entry.data
        state = self._contract(entry)
        state.signatures[data["party"]] = entry.at
        who = " y ".join(
            label
            for party, label in (("institucion", "la institución"), ("proveedor", "el proveedor"))
            if party in state.signatures
        )
        document = {
            "id": "contrato-firmado",
            "documentType": "contractSigned",
            "title": f"Contrato {state.facts.number} firmado (PDF)",
            "description": (
                f"Firmado por {who}. SHA-256 del PDF firmado: {data['document_sha256']}."
            ),
            "format": "application/pdf",
            "language": "es",
            "datePublished": instant(min(state.signatures.values())),
            "dateModified": instant(entry.at),
        }
        fields: dict[str, Any] = {"documents": [document]}
        if {"institucion", "proveedor"} <= state.signatures.keys():
            fields["dateSigned"] = instant(max(state.signatures.values()))
        return self._contract_built(entry, "contractUpdate", fields)

    def _guarantee(self, entry: Entry, description: str) -> Built:
        document = {
            "id": "garantia",
            "documentType": "contractGuarantees",
            "title": "Garantía de cumplimiento",
            "description": description,
            "language": "es",
            "datePublished": instant(entry.at),
        }
        return self._contract_built(entry, "contractUpdate", {"documents": [document]})

    def _contract_guarantee(self, entry: Entry) -> Built:
        data = entry.data
        return self._guarantee(
            entry,
            f"{data['document']}, de {data['issuer']}, por "
            f"{format_mxn(Decimal(str(data['amount'])))}.",
        )

    def _contract_guarantee_exempt(self, entry: Entry) -> Built:
        return self._guarantee(entry, f"Exceptuada por la institución: {entry.data['reason']}")

    def _contract_effective(self, entry: Entry) -> Built:
        self._contract(entry).in_force = True
        return self._contract_built(entry, "contractUpdate", {"status": "active"})

    def _contract_amend(self, entry: Entry) -> Built:
        data, seq = entry.data, entry.seq
        state = self._contract(entry)
        previous = state.last_release
        changes = data["changes"]
        said = []
        for clave, (old, new) in sorted(changes.get("max_qty", {}).items()):
            state.lines[clave] = (int(new), state.lines[clave][1])
            said.append(f"clave {clave}: máximo de {format_int(old)} a {format_int(new)} piezas")
        fields: dict[str, Any] = {}
        if "ends_on" in changes:
            old_end, new_end = changes["ends_on"]
            said.append(
                f"vigencia hasta el {format_date(_day(new_end))} (era el "
                f"{format_date(_day(old_end))})"
            )
            fields["period"] = {"endDate": day_end(new_end)}
        before, after = Decimal(str(data["amount_before"])), Decimal(str(data["amount_after"]))
        said.append(f"importe máximo de {format_mxn(before)} a {format_mxn(after)}")
        amendment: dict[str, Any] = {
            "id": f"convenio-{data['convenio']}",
            "date": instant(entry.at),
            "rationale": data["reason"],
            "description": f"Convenio modificatorio {data['convenio']}: " + "; ".join(said) + ".",
            "releaseID": f"{self.ocid}-{seq}",
        }
        if previous:
            amendment["amendsReleaseID"] = previous
        fields["value"] = money(after)
        fields["description"] = state.description
        if changes.get("max_qty"):
            fields["items"] = self._contract_items(state, seq, sorted(changes["max_qty"]))
        fields["amendments"] = [amendment]
        return self._contract_built(entry, "contractAmendment", fields)

    def _closed(self, entry: Entry, status: str, said: str) -> Built:
        state = self._contract(entry)
        fields = {
            "status": status,
            "description": (
                f"Contrato {state.facts.number} {said} el {format_date(entry.at)}: "
                f"{entry.data['reason']}"
            ),
        }
        return self._contract_built(entry, "contractTermination", fields)

    def _contract_concluido(self, entry: Entry) -> Built:
        return self._closed(entry, "terminated", "concluido")

    def _contract_rescindido(self, entry: Entry) -> Built:
        # Rescinded once in force it ended early (terminated); before, it never was (cancelled).
        status = "terminated" if self._contract(entry).in_force else "cancelled"
        return self._closed(entry, status, "rescindido")

    def _milestones(self, entry: Entry, tag: str, milestones: list[dict[str, Any]]) -> Built:
        return self._contract_built(entry, tag, {"implementation": {"milestones": milestones}})

    def _order_issue(self, entry: Entry) -> Built:
        data = entry.data
        state = self._contract(entry)
        order = OrderState(data["clave"], int(data["quantity"]), _day(data["due_on"]), data["unit"])
        state.orders[int(data["order"])] = order
        milestone = {
            "id": f"orden-{data['order']}",
            "title": f"Orden de suministro {data['order']}",
            "type": "delivery",
            "description": (
                f"{count_of(order.quantity, 'pieza', 'piezas')} de la clave {order.clave} en "
                f"{order.unit}, a {format_mxn(Decimal(str(data['unit_price'])))} cada una; "
                f"entrega a más tardar el {format_date(order.due_on)}."
            ),
            "dueDate": day_end(order.due_on),
            "status": "scheduled",
            "dateModified": instant(entry.at),
        }
        return self._milestones(entry, "implementation", [milestone])

    def _order_status(self, order: OrderState) -> str:
        if order.accepted >= order.quantity:
            return "met"
        return "partiallyMet" if order.accepted else "scheduled"

    def _shipment_receive(self, entry: Entry) -> Built:
        data, at = entry.data, instant(entry.at)
        state = self._contract(entry)
        number = int(data["order"])
        order = state.orders[number]
        accepted = sum(int(lot["accepted"] or 0) for lot in data["lots"])
        rejected = sum(int(lot["rejected"] or 0) for lot in data["lots"])
        order.accepted += accepted
        late = int(data["days_late"])
        reasons = sorted(
            {
                REJECTION_REASONS.get(lot["reason"], lot["reason"])
                for lot in data["lots"]
                if lot["rejected"]
            }
        )
        said = (
            f"Recibidas {format_int(accepted + rejected)} piezas: {format_int(accepted)} aceptadas"
        )
        if rejected:
            said += f", {format_int(rejected)} rechazadas ({'; '.join(reasons).lower()})"
        said += (
            f"; {count_of(late, 'día', 'días')} después de la fecha de entrega."
            if late
            else "; a tiempo."
        )
        receipt = {
            "id": f"orden-{number}-envio-{data['shipment']}",
            "title": f"Entrega {data['shipment']} de la orden de suministro {number}",
            "type": "delivery",
            "description": said,
            "dueDate": day_end(order.due_on),
            "dateMet": at,
            "status": "met" if accepted else "notMet",
            "dateModified": at,
        }
        whole: dict[str, Any] = {
            "id": f"orden-{number}",
            "status": self._order_status(order),
            "dateModified": at,
        }
        if order.accepted >= order.quantity:
            whole["dateMet"] = at
        return self._milestones(entry, "implementationUpdate", [whole, receipt])

    def _order_close(self, entry: Entry) -> Built:
        data = entry.data
        state = self._contract(entry)
        number = int(data["order"])
        order = state.orders[number]
        milestone = {
            "id": f"orden-{number}",
            "status": "partiallyMet" if order.accepted else "notMet",
            "dateModified": instant(entry.at),
            "description": (
                f"{count_of(order.quantity, 'pieza', 'piezas')} de la clave {order.clave} en "
                f"{order.unit}; cerrada con {format_int(int(data['missing']))} sin surtir: "
                f"{data['reason']}"
            ),
        }
        return self._milestones(entry, "implementationUpdate", [milestone])


# ----- reading -------------------------------------------------------------------------------


def stage_query() -> Any:
    return select(
        LedgerEntry.seq, LedgerEntry.at, LedgerEntry.action, LedgerEntry.entity, LedgerEntry.payload
    ).where(LedgerEntry.public, LedgerEntry.action.in_(STAGES))


def tender_id_of(entity: str) -> int:
    return int(entity.split(":", 1)[1])


def process_entities(db: Session, tender_id: int) -> ColumnElement[bool]:
    """The ledger entities of one contracting process: its tender and the contracts made from
    its fallo, named one by one so the ledger's entity index finds them."""
    contracts = db.scalars(
        select(Contract.id).where(Contract.tender_id == tender_id).order_by(Contract.id)
    )
    return LedgerEntry.entity.in_(
        [feed_entity(tender_id), *(f"{CONTRACT_ENTITY}{c}" for c in contracts)]
    )


def tenders_of(db: Session, entities: Iterable[str]) -> dict[str, int]:
    """The tender whose process each entity (a tender's or a contract's) belongs to."""
    found: dict[str, int] = {}
    contracts: list[int] = []
    for entity in set(entities):
        if entity.startswith(CONTRACT_ENTITY):
            contracts.append(int(entity.removeprefix(CONTRACT_ENTITY)))
        else:
            found[entity] = tender_id_of(entity)
    contracts.sort()
    for start in range(0, len(contracts), 500):
        found.update(
            (f"{CONTRACT_ENTITY}{contract}", tender)
            for contract, tender in db.execute(
                select(Contract.id, Contract.tender_id).where(
                    Contract.id.in_(contracts[start : start + 500])
                )
            )
        )
    return found


def fold(
    db: Session,
    directory: Directory,
    prefix: str,
    tender_id: int,
    entries: Iterable[Entry],
) -> Iterator[tuple[Entry, dict[str, Any]]]:
    """Each entry of one process, in seq order, with its release (unpublished ones skipped)."""
    process = Process(Facts.load(db, tender_id), directory, prefix)
    for entry in entries:
        release = process.release(entry)
        if release is not None:
            yield entry, release


def tender_releases(
    db: Session,
    prefix: str,
    tender_id: int,
    *,
    upto: int | None = None,
    directory: Directory | None = None,
) -> list[dict[str, Any]]:
    """Every release of one process (up to the entry ``upto``), oldest first."""
    query = stage_query().where(process_entities(db, tender_id))
    if upto is not None:
        query = query.where(LedgerEntry.seq <= upto)
    entries = [Entry.of(row) for row in db.execute(query.order_by(LedgerEntry.seq))]
    return [r for _, r in fold(db, directory or Directory(db), prefix, tender_id, entries)]


def releases_for(db: Session, prefix: str, entries: Sequence[Entry]) -> dict[int, dict[str, Any]]:
    """The releases of these entries (any processes), by seq: each process folded from its
    start."""
    directory = Directory(db)
    wanted = {e.seq for e in entries}
    tenders = tenders_of(db, (e.entity for e in entries))
    found: dict[int, dict[str, Any]] = {}
    last: dict[int, int] = {}
    for entry in entries:
        tender = tenders[entry.entity]
        last[tender] = max(last.get(tender, 0), entry.seq)
    for tender, upto in sorted(last.items()):
        for release in tender_releases(db, prefix, tender, upto=upto, directory=directory):
            seq = int(release["id"].rsplit("-", 1)[1])
            if seq in wanted:
                found[seq] = release
    return found
