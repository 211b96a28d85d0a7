"""The public tables of open data: what each holds, its columns explained, its keys, and its query.

Each table is one SQL query over whole tables, read in batches by ``service``. Only what the
public may see goes in: tenders once published, bids only once opened and matching their
commitment (as the award reads them), never a sealed one; questions without who asked them;
contracts, orders and deliveries without the people who signed, issued, shipped or received
them (the ledger names them to auditors).

A table and each column carry a Spanish title (the download page, ``title`` in
datapackage.json) and an English description (``description`` in datapackage.json), and a table
its primary key and its foreign keys to the other tables, so the export is a Frictionless
tabular data package whose links a reader can follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, String, cast, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from abasto.award.models import ContractDraft, Fallo, FalloLine, PriceObservation
from abasto.catalog.models import Clave
from abasto.contracts.models import (
    Contract,
    ContractLine,
    Convenio,
    Penalty,
    Shipment,
    ShipmentLot,
    SupplyOrder,
)
from abasto.demand.models import DemandRound
from abasto.identity.models import Institution, Supplier, Unit
from abasto.inventory.models import DailyAbasto
from abasto.tendering import service as tendering
from abasto.tendering.models import (
    Amendment,
    Bid,
    BidLine,
    Partida,
    PartidaDemand,
    Question,
    Tender,
)
from abasto.transparency.redflags.models import RedFlag, RedFlagRun

TEXT, INTEGER, DECIMAL, NUMBER, BOOLEAN, DATETIME, DATE, JSON = (
    "text",
    "integer",
    "decimal",
    "number",
    "boolean",
    "datetime",
    "date",
    "json",
)
"""Column kinds: ``decimal`` is exact money or a rate, ``number`` a float, ``json`` an object."""
KIND_LABELS = {
    DECIMAL: "decimal exacto",
    NUMBER: "número",
    INTEGER: "entero",
    BOOLEAN: "true o false",
    DATETIME: "fecha y hora (ISO 8601, UTC)",
    DATE: "fecha (aaaa-mm-dd)",
    JSON: "objeto JSON",
}
"""How the download page names each kind (text: «texto»)."""

Query = Select[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """English snake_case, as in the file's header."""
    kind: str
    title: str
    """In Spanish: the download page and ``title`` in datapackage.json."""
    description: str
    """In English: ``description`` in datapackage.json."""
    expr: ColumnElement[Any] | InstrumentedAttribute[Any]

    @property
    def scale(self) -> tuple[int, int]:
        """A decimal column's (precision, scale), as the database stores it."""
        numeric = self.expr.type
        assert isinstance(numeric, Numeric)
        assert numeric.precision is not None
        assert numeric.scale is not None
        return numeric.precision, numeric.scale


@dataclass(frozen=True, slots=True)
class Link:
    """A foreign key: ``fields`` of this table name a row of ``table`` by its ``reference``."""

    fields: tuple[str, ...]
    table: str
    reference: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    title: str
    summary: str
    """In Spanish, for the download page."""
    description: str
    """In English, for datapackage.json."""
    columns: tuple[Column, ...]
    where: Callable[[Query], Query]
    """The joins, conditions and order that complete the select of the columns."""
    key: tuple[str, ...] = ()
    """The primary key; empty where a key column may be empty (the nation's row has no key)
    or the table has no key a reader could use."""
    links: tuple[Link, ...] = ()

    def query(self) -> Query:
        return self.where(select(*(c.expr.label(c.name) for c in self.columns)))


def _published(query: Query) -> Query:
    return query.where(Tender.published_at.is_not(None))


def _clave(expr: Any) -> Column:
    return Column(
        "clave",
        TEXT,
        "Clave del Compendio Nacional de Insumos para la Salud.",
        "The item's code in Mexico's national compendium of health supplies.",
        expr,
    )


def _institution_code(expr: Any) -> Column:
    return Column(
        "institution_code", TEXT, "Clave de la institución.", "The institution's code.", expr
    )


def _state_code(expr: Any) -> Column:
    return Column(
        "state_code", TEXT, "Entidad federativa (clave INEGI).", "The state (INEGI code).", expr
    )


def _retired_at(expr: Any) -> Column:
    return Column(
        "retired_at", DATETIME, "Baja, si la tuvo.", "When it was retired, if it was.", expr
    )


def _net_price(expr: Any) -> Column:
    return Column(
        "unit_price",
        DECIMAL,
        "Precio unitario sin IVA, en pesos.",
        "The unit price before VAT, in pesos.",
        expr,
    )


def _qty(name_title_description: tuple[str, str, str], expr: Any) -> Column:
    name, title, description = name_title_description
    return Column(name, INTEGER, title, description, expr)


def _partida(number: InstrumentedAttribute[int]) -> Column:
    return Column(
        "partida_number",
        INTEGER,
        "Número de la partida en la licitación.",
        "The partida's (lot's) number in the tender.",
        number,
    )


def _unit_code(expr: Any) -> Column:
    return Column(
        "unit_code",
        TEXT,
        "Clave de la unidad (CLUES o la de su institución).",
        "The unit's code (its CLUES, or its institution's own code).",
        expr,
    )


def _abasto_counts() -> tuple[Column, ...]:
    return tuple(
        Column(name, INTEGER, title, description, getattr(DailyAbasto, name))
        for name, title, description in ABASTO_COUNTS
    )


# ----- columns several tables share ----------------------------------------------------------

TENDER = (
    Column(
        "tender_id",
        INTEGER,
        "Identificador de la licitación en Abasto.",
        "The tender's id in Abasto.",
        Tender.id,
    ),
    Column(
        "tender_number",
        TEXT,
        "Número de la licitación.",
        "The tender's public number.",
        Tender.number,
    ),
)
CLAVE = _clave(Clave.clave)
SUPPLIER = (
    Column(
        "supplier_rfc", TEXT, "RFC del proveedor.", "The supplier's tax id (RFC).", Supplier.rfc
    ),
    Column(
        "supplier_name",
        TEXT,
        "Razón social del proveedor.",
        "The supplier's legal name.",
        Supplier.razon_social,
    ),
)
INSTITUTION = (
    _institution_code(Institution.code),
    Column(
        "institution_name",
        TEXT,
        "Nombre de la institución.",
        "The institution's name.",
        Institution.name,
    ),
)
FALLO = (
    Column(
        "fallo_issued_at",
        DATETIME,
        "Instante en que se emitió el fallo.",
        "When the award decision (fallo) was issued.",
        Fallo.issued_at,
    ),
)
MIN_QTY, MAX_QTY = (
    ("min_qty", "Cantidad mínima (piezas).", "Minimum quantity, in pieces."),
    ("max_qty", "Cantidad máxima (piezas).", "Maximum quantity, in pieces."),
)
CONTRACT = (
    Column(
        "contract_id",
        INTEGER,
        "Identificador del contrato en Abasto.",
        "The contract's id in Abasto.",
        Contract.id,
    ),
    Column(
        "contract_number", TEXT, "Número del contrato.", "The contract's number.", Contract.number
    ),
)
ORDER = (
    Column(
        "order_id",
        INTEGER,
        "Identificador de la orden de suministro en Abasto.",
        "The supply order's id in Abasto.",
        SupplyOrder.id,
    ),
    Column(
        "order_number",
        INTEGER,
        "Número de la orden dentro de su contrato.",
        "The order's number within its contract.",
        SupplyOrder.number,
    ),
)
SHIPMENT = Column(
    "shipment_id",
    INTEGER,
    "Identificador de la entrega en Abasto.",
    "The shipment's id in Abasto.",
    Shipment.id,
)
RECEIVED_AT = Column(
    "received_at", DATETIME, "Recepción.", "When it was received.", Shipment.received_at
)
LOT = Column("lot", TEXT, "Lote.", "The lot (batch) number.", ShipmentLot.lot)
ABASTO_COUNTS = (
    ("listed", "Claves de la lista de la unidad.", "Claves on the units' list, summed."),
    ("with_stock", "Con existencia.", "Of them, with stock on hand."),
    (
        "at_minimum",
        "Con al menos su mínimo de meses.",
        "Of them, with at least their minimum months of stock.",
    ),
    ("below_min", "Bajo el mínimo.", "Of them, below their minimum months of stock."),
    ("above_max", "Sobre el máximo.", "Of them, above their maximum months of stock."),
    (
        "expiring",
        "Piezas que caducan en 90 días o menos.",
        "Pieces that expire within 90 days.",
    ),
)


DAY = Column("day", DATE, "Día del indicador.", "The indicator's day.", DailyAbasto.day)
TO_TENDER = Link(("tender_id",), "tenders", ("tender_id",))
TO_PARTIDA = Link(("tender_id", "partida_number"), "partidas", ("tender_id", "partida_number"))
TO_CLAVE = Link(("clave",), "claves", ("clave",))
TO_SUPPLIER = Link(("supplier_rfc",), "suppliers", ("rfc",))
TO_INSTITUTION = Link(("institution_code",), "institutions", ("code",))
TO_UNIT = Link(("institution_code", "unit_code"), "units", ("institution_code", "code"))
TO_CONTRACT = Link(("contract_id",), "contracts", ("contract_id",))
TO_ORDER = Link(("order_id",), "supply_orders", ("order_id",))
TO_SHIPMENT = Link(("shipment_id",), "deliveries", ("shipment_id",))

Coordinator = aliased(Institution)
UnitInstitution = aliased(Institution)

# ----- the tender, the bids, the fallo --------------------------------------------------------

TENDERING: tuple[Table, ...] = (
    Table(
        "tenders",
        "Licitaciones",
        "Cada procedimiento publicado: tipo, estado y fechas de su calendario.",
        "Every published procurement procedure: its kind, status and the dates of its calendar.",
        (
            *TENDER,
            Column("title", TEXT, "Título de la licitación.", "The tender's title.", Tender.title),
            Column(
                "procedure",
                TEXT,
                "Tipo de procedimiento: licitacion_nacional, licitacion_internacional, "
                "invitacion o adjudicacion_directa.",
                "The procedure: licitacion_nacional (national open tender), "
                "licitacion_internacional (international open tender), invitacion (invitation "
                "to at least three) or adjudicacion_directa (direct award).",
                Tender.procedure,
            ),
            Column(
                "status",
                TEXT,
                "Estado: clarifications (junta de aclaraciones), bidding (recepción), closed, "
                "opening (apertura), opened (abiertas), awarded (con fallo) o cancelled.",
                "Status: clarifications, bidding, closed, opening, opened, awarded or cancelled.",
                Tender.status,
            ),
            Column(
                "round",
                TEXT,
                "Ronda de demanda de la que salió, si alguna.",
                "The demand round the tender came from, if any.",
                DemandRound.name,
            ),
            Column(
                "legal_basis",
                TEXT,
                "Fundamento legal (excepciones).",
                "The legal basis of an exception to the open tender.",
                Tender.legal_basis,
            ),
            Column(
                "justification",
                TEXT,
                "Justificación (excepciones).",
                "The justification of an exception to the open tender.",
                Tender.justification,
            ),
            Column(
                "published_at",
                DATETIME,
                "Publicación de la convocatoria.",
                "When the call for bids was published.",
                Tender.published_at,
            ),
            Column(
                "clarification_deadline",
                DATETIME,
                "Límite para preguntas de la junta de aclaraciones.",
                "The deadline for clarification questions.",
                Tender.clarification_deadline,
            ),
            Column(
                "bid_deadline",
                DATETIME,
                "Cierre de proposiciones.",
                "The bid deadline.",
                Tender.bid_deadline,
            ),
            Column(
                "opening_at",
                DATETIME,
                "Apertura de proposiciones.",
                "When the public bid opening starts.",
                Tender.opening_at,
            ),
            Column(
                "opened_at",
                DATETIME,
                "Fin de la apertura.",
                "When the bid opening ended.",
                Tender.opened_at,
            ),
            Column(
                "fallo_at",
                DATETIME,
                "Fecha prevista del fallo.",
                "When the award decision is due.",
                Tender.fallo_at,
            ),
            Column(
                "cancelled_at",
                DATETIME,
                "Cancelación, si la hubo.",
                "When the tender was cancelled, if it was.",
                Tender.cancelled_at,
            ),
            Column(
                "cancel_reason",
                TEXT,
                "Motivo de la cancelación.",
                "Why the tender was cancelled.",
                Tender.cancel_reason,
            ),
        ),
        lambda q: _published(q.outerjoin(DemandRound, DemandRound.id == Tender.round_id)).order_by(
            Tender.id
        ),
        key=("tender_id",),
    ),
    Table(
        "partidas",
        "Partidas",
        "Una clave por partida de cada licitación, con la cantidad mínima y máxima consolidada.",
        "One clave per partida (lot) of each published tender, with the consolidated minimum "
        "and maximum quantity.",
        (
            *TENDER,
            _partida(Partida.number),
            CLAVE,
            Column(
                "clave_description",
                TEXT,
                "Descripción de la clave.",
                "The clave's description.",
                Clave.description,
            ),
            _qty(MIN_QTY, Partida.min_qty),
            _qty(MAX_QTY, Partida.max_qty),
            Column(
                "desierta_at",
                DATETIME,
                "Declaración de desierta, si la hubo.",
                "When the partida was declared void (desierta), if it was.",
                Partida.desierta_at,
            ),
            Column(
                "desierta_reason",
                TEXT,
                "Motivo de la declaración.",
                "Why it was declared void.",
                Partida.desierta_reason,
            ),
        ),
        lambda q: _published(
            q.select_from(Partida)
            .join(Tender, Tender.id == Partida.tender_id)
            .join(Clave, Clave.id == Partida.clave_id)
        ).order_by(Tender.id, Partida.number),
        key=("tender_id", "partida_number"),
        links=(TO_TENDER, TO_CLAVE),
    ),
    Table(
        "partida_demands",
        "Demanda por institución",
        "Lo que cada institución pide de cada partida (mínimo y máximo).",
        "What each institution asked for of each partida (minimum and maximum).",
        (
            *TENDER,
            _partida(Partida.number),
            CLAVE,
            *INSTITUTION,
            _qty(MIN_QTY, PartidaDemand.min_qty),
            _qty(MAX_QTY, PartidaDemand.max_qty),
        ),
        lambda q: _published(
            q.select_from(PartidaDemand)
            .join(Partida, Partida.id == PartidaDemand.partida_id)
            .join(Tender, Tender.id == Partida.tender_id)
            .join(Clave, Clave.id == Partida.clave_id)
            .join(Institution, Institution.id == PartidaDemand.institution_id)
        ).order_by(Tender.id, Partida.number, Institution.code),
        key=("tender_id", "partida_number", "institution_code"),
        links=(TO_PARTIDA, TO_INSTITUTION),
    ),
    Table(
        "questions",
        "Junta de aclaraciones",
        "Las preguntas de los licitantes, sin su autor, y las respuestas de la convocante "
        "cuando se publican.",
        "The bidders' clarification questions, without who asked them, and the buyer's "
        "answers once published (empty until then).",
        (
            *TENDER,
            Column(
                "question_number",
                INTEGER,
                "Número de la pregunta en la licitación.",
                "The question's number in the tender.",
                Question.number,
            ),
            Column(
                "partida_number",
                INTEGER,
                "Partida a que se refiere, si alguna.",
                "The partida it is about, if any.",
                Question.partida_number,
            ),
            Column("question", TEXT, "Pregunta.", "The question.", Question.text),
            Column(
                "asked_at", DATETIME, "Cuándo se hizo.", "When it was asked.", Question.asked_at
            ),
            Column("answer", TEXT, "Respuesta.", "The answer.", Question.answer),
            Column(
                "answered_at",
                DATETIME,
                "Cuándo se respondió.",
                "When it was answered.",
                Question.answered_at,
            ),
        ),
        lambda q: _published(
            q.select_from(Question).join(Tender, Tender.id == Question.tender_id)
        ).order_by(Tender.id, Question.number),
        key=("tender_id", "question_number"),
        links=(TO_TENDER,),
    ),
    Table(
        "tender_amendments",
        "Modificaciones a la convocatoria",
        "Cada modificación de una licitación publicada y las fechas que movió.",
        "Every amendment to a published tender and the dates it moved.",
        (
            *TENDER,
            Column(
                "amendment_number",
                INTEGER,
                "Número de la modificación.",
                "The amendment's number in the tender.",
                Amendment.number,
            ),
            Column("at", DATETIME, "Cuándo se publicó.", "When it was published.", Amendment.at),
            Column("description", TEXT, "Descripción.", "What it changes.", Amendment.description),
            Column(
                "changes",
                JSON,
                "Fechas movidas: {fecha: [antes, después]}.",
                "The dates it moved, as a JSON object {field: [before, after]}.",
                Amendment.changes,
            ),
        ),
        lambda q: _published(
            q.select_from(Amendment).join(Tender, Tender.id == Amendment.tender_id)
        ).order_by(Tender.id, Amendment.number),
        key=("tender_id", "amendment_number"),
        links=(TO_TENDER,),
    ),
    Table(
        "bids",
        "Proposiciones abiertas",
        "Cada partida de cada proposición abierta en público y que coincide con su compromiso. "
        "Las proposiciones selladas no aparecen: nada de ellas se conoce antes de la apertura.",
        "Every partida of every bid opened in public that matched its commitment hash. Sealed "
        "bids never appear: nothing of them is known before the opening.",
        (
            *TENDER,
            Column(
                "bid_id",
                TEXT,
                "Identificador de la proposición (su folio).",
                "The bid's id (its receipt number).",
                Bid.id,
            ),
            *SUPPLIER,
            Column(
                "submitted_at",
                DATETIME,
                "Llegada de la proposición sellada.",
                "When the sealed bid arrived.",
                Bid.submitted_at,
            ),
            Column(
                "opened_at",
                DATETIME,
                "Apertura de la proposición.",
                "When the bid was opened.",
                Bid.opened_at,
            ),
            _partida(BidLine.partida_number),
            CLAVE,
            Column(
                "unit_price",
                DECIMAL,
                "Precio unitario ofrecido, en pesos.",
                "The unit price offered, in pesos.",
                BidLine.unit_price,
            ),
            Column(
                "quantity",
                INTEGER,
                "Cantidad ofrecida (piezas).",
                "The quantity offered, in pieces.",
                BidLine.quantity,
            ),
            Column(
                "presentation",
                TEXT,
                "Presentación ofrecida.",
                "The presentation offered.",
                BidLine.presentation,
            ),
            Column(
                "registro_sanitario",
                TEXT,
                "Registro sanitario.",
                "The sanitary registration (COFEPRIS).",
                BidLine.registro_sanitario,
            ),
            Column("manufacturer", TEXT, "Fabricante.", "The manufacturer.", BidLine.manufacturer),
            Column("country", TEXT, "País de origen.", "The country of origin.", BidLine.country),
        ),
        lambda q: (
            q.select_from(BidLine)
            .join(Bid, Bid.id == BidLine.bid_id)
            .join(Tender, Tender.id == Bid.tender_id)
            .join(Supplier, Supplier.id == Bid.supplier_id)
            .join(Partida, Partida.id == BidLine.partida_id)
            .join(Clave, Clave.id == Partida.clave_id)
            .where(Bid.status == tendering.OPENED, Bid.check == tendering.MATCHES)
            .order_by(Tender.id, Bid.submitted_at, Bid.id, BidLine.partida_number)
        ),
        key=("bid_id", "partida_number"),
        links=(TO_PARTIDA, TO_SUPPLIER),
    ),
    Table(
        "awards",
        "Adjudicaciones (fallo)",
        "Cada ganador de cada partida en el fallo: cantidad, precio y el precio de referencia "
        "con que se evaluó.",
        "Every winner of every partida in the award decision (fallo): quantity, price and the "
        "reference price it was evaluated against.",
        (
            *TENDER,
            *FALLO,
            Column(
                "fallo_mode",
                TEXT,
                "Modo de adjudicación: lowest, split u optimal.",
                "How it was awarded: lowest (lowest price), split (abastecimiento simultáneo) "
                "or optimal (the whole-tender model).",
                Fallo.mode,
            ),
            _partida(FalloLine.partida_number),
            CLAVE,
            *SUPPLIER,
            Column("bid_id", TEXT, "Proposición ganadora.", "The winning bid.", FalloLine.bid_id),
            Column(
                "quantity",
                INTEGER,
                "Cantidad adjudicada (piezas).",
                "The quantity awarded, in pieces.",
                FalloLine.quantity,
            ),
            Column(
                "unit_price",
                DECIMAL,
                "Precio unitario adjudicado, en pesos.",
                "The unit price awarded, in pesos.",
                FalloLine.unit_price,
            ),
            Column(
                "reference_price",
                DECIMAL,
                "Precio de referencia (investigación de mercado) usado en el fallo.",
                "The reference price (market research median) the fallo used.",
                FalloLine.reference_price,
            ),
        ),
        lambda q: (
            q.select_from(FalloLine)
            .join(Fallo, Fallo.id == FalloLine.fallo_id)
            .join(Tender, Tender.id == Fallo.tender_id)
            .join(Partida, Partida.id == FalloLine.partida_id)
            .join(Clave, Clave.id == Partida.clave_id)
            .join(Supplier, Supplier.id == FalloLine.supplier_id)
            .order_by(Tender.id, FalloLine.partida_number, FalloLine.bid_id)
        ),
        key=("tender_id", "partida_number", "bid_id"),
        links=(
            TO_PARTIDA,
            TO_SUPPLIER,
            Link(("bid_id", "partida_number"), "bids", ("bid_id", "partida_number")),
        ),
    ),
    Table(
        "contract_drafts",
        "Contratos (proyectos del fallo)",
        "Lo que cada institución contratará con cada proveedor por partida, según el fallo: "
        "contrato abierto con mínimo y máximo.",
        "What each institution is to contract with each supplier per partida, as the fallo "
        "drafted it: an open contract with a minimum and a maximum.",
        (
            *TENDER,
            *FALLO,
            _partida(Partida.number),
            CLAVE,
            *INSTITUTION,
            *SUPPLIER,
            _qty(MIN_QTY, ContractDraft.min_qty),
            _qty(MAX_QTY, ContractDraft.max_qty),
            Column(
                "unit_price",
                DECIMAL,
                "Precio unitario, en pesos.",
                "The unit price, in pesos.",
                ContractDraft.unit_price,
            ),
        ),
        lambda q: (
            q.select_from(ContractDraft)
            .join(Fallo, Fallo.id == ContractDraft.fallo_id)
            .join(Tender, Tender.id == Fallo.tender_id)
            .join(Partida, Partida.id == ContractDraft.partida_id)
            .join(Clave, Clave.id == Partida.clave_id)
            .join(Institution, Institution.id == ContractDraft.institution_id)
            .join(Supplier, Supplier.id == ContractDraft.supplier_id)
            .order_by(Tender.id, Partida.number, Institution.code, Supplier.rfc)
        ),
        key=("tender_id", "partida_number", "institution_code", "supplier_rfc"),
        links=(TO_PARTIDA, TO_INSTITUTION, TO_SUPPLIER),
    ),
    Table(
        "reference_prices",
        "Precios observados (investigación de mercado)",
        "Cada precio unitario observado de una clave: listas de precios, fallos anteriores, "
        "datos OCDS de otros publicadores. La referencia de una clave es la mediana de sus "
        "observaciones.",
        "Every unit price observed for a clave: price lists, earlier fallos, other publishers' "
        "OCDS data. A clave's reference price is the median of its observations.",
        (
            CLAVE,
            Column(
                "source_kind",
                TEXT,
                "Tipo de fuente: abasto (un fallo), lista u ocds.",
                "The kind of source: abasto (a fallo), lista (a price list) or ocds.",
                PriceObservation.source_kind,
            ),
            Column(
                "source",
                TEXT,
                "Archivo, licitación u ocid de origen.",
                "The file, tender or ocid it came from.",
                PriceObservation.source,
            ),
            Column(
                "source_ref",
                TEXT,
                "Dónde en la fuente.",
                "Where in the source.",
                PriceObservation.source_ref,
            ),
            Column(
                "unit_price",
                DECIMAL,
                "Precio unitario en pesos.",
                "The unit price in pesos.",
                PriceObservation.unit_price,
            ),
            Column(
                "original_price",
                DECIMAL,
                "Precio en su moneda original.",
                "The price in its original currency.",
                PriceObservation.original_price,
            ),
            Column(
                "currency",
                TEXT,
                "Moneda original (ISO 4217).",
                "The original currency (ISO 4217).",
                PriceObservation.currency,
            ),
            Column(
                "rate",
                DECIMAL,
                "Tipo de cambio a pesos.",
                "The exchange rate to pesos.",
                PriceObservation.rate,
            ),
            Column(
                "observed_on",
                DATE,
                "Fecha de la observación.",
                "When the price was observed.",
                PriceObservation.observed_on,
            ),
            Column(
                "imported_at",
                DATETIME,
                "Importación a Abasto.",
                "When it was imported into Abasto.",
                PriceObservation.imported_at,
            ),
        ),
        lambda q: (
            q.select_from(PriceObservation)
            .join(Clave, Clave.id == PriceObservation.clave_id)
            .order_by(Clave.clave, PriceObservation.id)
        ),
        links=(TO_CLAVE,),
    ),
)

# ----- who: the catalog, the institutions and their units, the suppliers ----------------------

REGISTRY: tuple[Table, ...] = (
    Table(
        "claves",
        "Catálogo de claves",
        "Las claves del Compendio Nacional de Insumos para la Salud que Abasto conoce.",
        "The claves of the national compendium of health supplies that Abasto knows.",
        (
            CLAVE,
            Column(
                "description",
                TEXT,
                "Descripción.",
                "The clave's description.",
                Clave.description,
            ),
            Column("unit", TEXT, "Unidad.", "The unit it is counted in.", Clave.unit),
            Column("presentation", TEXT, "Presentación.", "The presentation.", Clave.presentation),
            Column(
                "group",
                TEXT,
                "Grupo del Compendio (010 medicamentos, 060 material de curación, …).",
                "The compendium's group (010 medicines, 060 medical supplies, …).",
                Clave.group,
            ),
            Column("category", TEXT, "Categoría.", "The category.", Clave.category),
            Column(
                "iva_rate",
                DECIMAL,
                "Tasa de IVA (0 o 0.16).",
                "The VAT (IVA) rate: 0 or 0.16.",
                Clave.iva_rate,
            ),
            Column(
                "cucop",
                INTEGER,
                "Clave CUCoP, si se conoce.",
                "The CUCoP code, when known.",
                Clave.cucop,
            ),
            Column(
                "updated_at",
                DATETIME,
                "Última actualización.",
                "When it was last updated.",
                Clave.updated_at,
            ),
        ),
        lambda q: q.order_by(Clave.clave),
        key=("clave",),
    ),
    Table(
        "institutions",
        "Instituciones",
        "Las instituciones que compran y reciben: IMSS, ISSSTE, IMSS-Bienestar y sus "
        "entidades, PEMEX, SEDENA, SEMAR, institutos nacionales, …",
        "The institutions that buy and receive: IMSS, ISSSTE, IMSS-Bienestar and its state "
        "bodies, PEMEX, SEDENA, SEMAR, the national institutes, …",
        (
            Column(
                "code",
                TEXT,
                "Clave de la institución.",
                "The institution's code.",
                Institution.code,
            ),
            Column("name", TEXT, "Nombre.", "The institution's name.", Institution.name),
            Column("kind", TEXT, "Tipo.", "The kind of institution.", Institution.kind),
            Column(
                "coordinator_code",
                TEXT,
                "Institución que compra por ella en los anexos consolidados, si alguna.",
                "The institution that buys for it in consolidated appendices, if any.",
                Coordinator.code,
            ),
            Column(
                "state_code",
                TEXT,
                "Entidad federativa (clave INEGI) de un organismo estatal.",
                "The state (INEGI code) of a state body.",
                Institution.state_code,
            ),
            _retired_at(Institution.retired_at),
        ),
        lambda q: (
            q.select_from(Institution)
            .outerjoin(Coordinator, Coordinator.id == Institution.coordinator_id)
            .order_by(Institution.code)
        ),
        key=("code",),
        links=(Link(("coordinator_code",), "institutions", ("code",)),),
    ),
    Table(
        "units",
        "Unidades",
        "Los puntos de entrega, almacenes, hospitales y clínicas de cada institución.",
        "Each institution's delivery points, warehouses, hospitals and clinics.",
        (
            _institution_code(UnitInstitution.code),
            Column(
                "code",
                TEXT,
                "Clave de la unidad (CLUES o la de su institución).",
                "The unit's code (its CLUES, or its institution's own code).",
                Unit.code,
            ),
            Column("name", TEXT, "Nombre.", "The unit's name.", Unit.name),
            Column("kind", TEXT, "Tipo de unidad.", "The kind of unit.", Unit.kind),
            _state_code(Unit.state_code),
            Column("municipality", TEXT, "Municipio.", "The municipality.", Unit.municipality),
            Column("typology", TEXT, "Tipología.", "The CLUES typology.", Unit.typology),
            Column("latitude", DECIMAL, "Latitud.", "Latitude (WGS 84).", Unit.latitude),
            Column("longitude", DECIMAL, "Longitud.", "Longitude (WGS 84).", Unit.longitude),
            _retired_at(Unit.retired_at),
        ),
        lambda q: (
            q.select_from(Unit)
            .join(UnitInstitution, UnitInstitution.id == Unit.institution_id)
            .order_by(UnitInstitution.code, Unit.code)
        ),
        key=("institution_code", "code"),
        links=(TO_INSTITUTION,),
    ),
    Table(
        "suppliers",
        "Proveedores",
        "Los proveedores registrados en Abasto.",
        "The suppliers registered in Abasto.",
        (
            Column("rfc", TEXT, "RFC.", "The supplier's tax id (RFC).", Supplier.rfc),
            Column("name", TEXT, "Razón social.", "The legal name.", Supplier.razon_social),
            _state_code(Supplier.state_code),
            Column(
                "registered_on",
                DATE,
                "Fecha de registro.",
                "When it registered.",
                Supplier.registered_on,
            ),
        ),
        lambda q: q.order_by(Supplier.rfc),
        key=("rfc",),
    ),
)

# ----- after the fallo: contracts, orders, deliveries, penalties ------------------------------

CONTRACTS: tuple[Table, ...] = (
    Table(
        "contracts",
        "Contratos",
        "Cada contrato abierto de una institución con un proveedor: estado, firmas, vigencia, "
        "importes y garantía de cumplimiento. Sin los nombres de quienes firmaron.",
        "Every open contract of one institution with one supplier, made from a fallo: status, "
        "signatures, validity, amounts and performance guarantee. Without the names of the "
        "people who signed.",
        (
            *CONTRACT,
            *TENDER,
            *INSTITUTION,
            *SUPPLIER,
            Column(
                "status",
                TEXT,
                "Estado: borrador, firmado_institucion, firmado_proveedor, vigente, concluido o "
                "rescindido.",
                "Status: borrador (draft), firmado_institucion (signed by the institution), "
                "firmado_proveedor (signed by the supplier), vigente (in force), concluido "
                "(concluded) or rescindido (rescinded).",
                Contract.status,
            ),
            Column(
                "notice_at",
                DATETIME,
                "Notificación del fallo.",
                "When the fallo was notified: the signing period counts from its day.",
                Contract.notice_at,
            ),
            Column(
                "signing_deadline",
                DATE,
                "Último día para firmar.",
                "The last day to sign.",
                Contract.signing_deadline,
            ),
            Column(
                "institution_signed_at",
                DATETIME,
                "Firma de la institución.",
                "When the institution signed.",
                Contract.institution_signed_at,
            ),
            Column(
                "supplier_signed_at",
                DATETIME,
                "Firma del proveedor.",
                "When the supplier signed.",
                Contract.supplier_signed_at,
            ),
            Column(
                "signed_late",
                BOOLEAN,
                "Firmado fuera de plazo.",
                "Whether it was signed after the deadline.",
                Contract.signed_late,
            ),
            Column(
                "document_sha256",
                TEXT,
                "SHA-256 del PDF que ambas partes firmaron.",
                "The SHA-256 of the PDF both parties signed.",
                Contract.document_sha256,
            ),
            Column(
                "effective_at",
                DATETIME,
                "Entrada en vigor.",
                "When it came into force.",
                Contract.effective_at,
            ),
            Column(
                "starts_on", DATE, "Inicio de la vigencia.", "Validity start.", Contract.starts_on
            ),
            Column("ends_on", DATE, "Fin de la vigencia.", "Validity end.", Contract.ends_on),
            Column(
                "original_amount",
                DECIMAL,
                "Importe máximo contratado originalmente, sin IVA, en pesos.",
                "The maximum amount first contracted, before VAT, in pesos.",
                Contract.original_amount,
            ),
            Column(
                "max_amount",
                DECIMAL,
                "Importe máximo vigente (con convenios), sin IVA, en pesos.",
                "The current maximum amount (after amendments), before VAT, in pesos.",
                Contract.max_amount,
            ),
            Column(
                "guarantee_amount",
                DECIMAL,
                "Monto de la garantía de cumplimiento, en pesos.",
                "The performance guarantee's amount, in pesos.",
                Contract.guarantee_amount,
            ),
            Column(
                "guarantee_issuer",
                TEXT,
                "Emisora de la garantía (afianzadora).",
                "Who issued the guarantee (the surety).",
                Contract.guarantee_issuer,
            ),
            Column(
                "guarantee_document",
                TEXT,
                "Documento de la garantía (póliza).",
                "The guarantee's document (policy).",
                Contract.guarantee_document,
            ),
            Column(
                "guarantee_recorded_at",
                DATETIME,
                "Registro de la garantía.",
                "When the guarantee was recorded.",
                Contract.guarantee_recorded_at,
            ),
            Column(
                "guarantee_exempt_reason",
                TEXT,
                "Motivo de la exención de garantía, si la hubo.",
                "Why the guarantee was waived, if it was.",
                Contract.guarantee_exempt_reason,
            ),
            Column(
                "penalties_at_cap",
                BOOLEAN,
                "Las penas alcanzaron la garantía (para rescisión).",
                "Whether penalties reached the guarantee (marked for rescission).",
                Contract.penalties_at_cap,
            ),
            Column(
                "closed_at",
                DATETIME,
                "Conclusión o rescisión.",
                "When it was concluded or rescinded.",
                Contract.closed_at,
            ),
            Column(
                "close_reason",
                TEXT,
                "Motivo de la conclusión o rescisión.",
                "Why it was concluded or rescinded.",
                Contract.close_reason,
            ),
        ),
        lambda q: (
            q.select_from(Contract)
            .join(Tender, Tender.id == Contract.tender_id)
            .join(Institution, Institution.id == Contract.institution_id)
            .join(Supplier, Supplier.id == Contract.supplier_id)
            .order_by(Contract.id)
        ),
        key=("contract_id",),
        links=(TO_TENDER, TO_INSTITUTION, TO_SUPPLIER),
    ),
    Table(
        "contract_lines",
        "Partidas de los contratos",
        "Cada clave de cada contrato: mínimo, máximo (original y vigente) y precio unitario.",
        "Every clave of every contract: minimum, maximum (as first contracted and current) and "
        "unit price before VAT.",
        (
            *CONTRACT,
            _partida(Partida.number),
            _clave(ContractLine.clave),
            Column(
                "description",
                TEXT,
                "Descripción contratada.",
                "The description as contracted.",
                ContractLine.description,
            ),
            _qty(MIN_QTY, ContractLine.min_qty),
            _qty(MAX_QTY, ContractLine.max_qty),
            _qty(
                (
                    "original_max_qty",
                    "Cantidad máxima original (piezas).",
                    "The maximum quantity as first contracted, in pieces.",
                ),
                ContractLine.original_max_qty,
            ),
            _net_price(ContractLine.unit_price),
        ),
        lambda q: (
            q.select_from(ContractLine)
            .join(Contract, Contract.id == ContractLine.contract_id)
            .join(Partida, Partida.id == ContractLine.partida_id)
            .order_by(Contract.id, Partida.number)
        ),
        key=("contract_id", "partida_number"),
        links=(TO_CONTRACT, TO_CLAVE),
    ),
    Table(
        "contract_amendments",
        "Convenios modificatorios",
        "Cada convenio modificatorio de un contrato: motivo, lo que cambió y el importe antes "
        "y después.",
        "Every amendment (convenio modificatorio) of a contract: its reason, what it changed "
        "and the maximum amount before and after.",
        (
            *CONTRACT,
            Column(
                "amendment_number",
                INTEGER,
                "Número del convenio en el contrato.",
                "The amendment's number in its contract.",
                Convenio.number,
            ),
            Column("at", DATETIME, "Fecha del convenio.", "When it was recorded.", Convenio.at),
            Column("reason", TEXT, "Motivo.", "Why the contract was modified.", Convenio.reason),
            Column(
                "changes",
                JSON,
                "Lo que cambió: máximos por clave [antes, después] y fin de la vigencia.",
                "What changed, as a JSON object: max_qty per clave [before, after], ends_on "
                "[before, after], and original_ends_on.",
                Convenio.changes,
            ),
            Column(
                "amount_before",
                DECIMAL,
                "Importe máximo antes, en pesos.",
                "The maximum amount before, in pesos.",
                Convenio.amount_before,
            ),
            Column(
                "amount_after",
                DECIMAL,
                "Importe máximo después, en pesos.",
                "The maximum amount after, in pesos.",
                Convenio.amount_after,
            ),
        ),
        lambda q: (
            q.select_from(Convenio)
            .join(Contract, Contract.id == Convenio.contract_id)
            .order_by(Contract.id, Convenio.number)
        ),
        key=("contract_id", "amendment_number"),
        links=(TO_CONTRACT,),
    ),
    Table(
        "supply_orders",
        "Órdenes de suministro",
        "Cada orden de suministro contra un contrato: clave, punto de entrega, cantidad, fecha "
        "de entrega, lo aceptado a tiempo y las penas. Sin el nombre de quien la emitió.",
        "Every supply order against a contract: clave, delivery point, quantity, due date, what "
        "was accepted (on time) or rejected, and the penalties charged. Without the name of "
        "who issued it.",
        (
            *ORDER,
            *CONTRACT,
            _clave(ContractLine.clave),
            _institution_code(UnitInstitution.code),
            _unit_code(Unit.code),
            Column(
                "quantity",
                INTEGER,
                "Cantidad ordenada (piezas).",
                "The quantity ordered, in pieces.",
                SupplyOrder.quantity,
            ),
            _net_price(SupplyOrder.unit_price),
            Column(
                "status",
                TEXT,
                "Estado: emitida, confirmada, surtida, cerrada (con faltante) o cancelada.",
                "Status: emitida (issued), confirmada (confirmed), surtida (fulfilled), cerrada "
                "(closed short) or cancelada (cancelled).",
                SupplyOrder.status,
            ),
            Column("issued_at", DATETIME, "Emisión.", "When it was issued.", SupplyOrder.issued_at),
            Column(
                "due_on", DATE, "Fecha de entrega.", "The delivery due date.", SupplyOrder.due_on
            ),
            Column(
                "confirmed_at",
                DATETIME,
                "Confirmación del proveedor.",
                "When the supplier confirmed it.",
                SupplyOrder.confirmed_at,
            ),
            Column(
                "accepted_qty",
                INTEGER,
                "Piezas aceptadas.",
                "Pieces accepted at receipt.",
                SupplyOrder.accepted_qty,
            ),
            Column(
                "on_time_qty",
                INTEGER,
                "Piezas aceptadas a tiempo (el numerador del nivel de surtimiento).",
                "Pieces accepted on or before the due date (the fill rate's numerator).",
                SupplyOrder.on_time_qty,
            ),
            Column(
                "rejected_qty",
                INTEGER,
                "Piezas rechazadas.",
                "Pieces rejected at receipt.",
                SupplyOrder.rejected_qty,
            ),
            Column(
                "penalty",
                DECIMAL,
                "Penas convencionales cobradas, en pesos.",
                "Late-delivery penalties (penas convencionales) charged, in pesos.",
                SupplyOrder.penalty,
            ),
            Column(
                "deductiva",
                DECIMAL,
                "Deductivas cobradas, en pesos.",
                "Deductions (deductivas) for partial or deficient delivery, in pesos.",
                SupplyOrder.deductiva,
            ),
        ),
        lambda q: (
            q.select_from(SupplyOrder)
            .join(Contract, Contract.id == SupplyOrder.contract_id)
            .join(ContractLine, ContractLine.id == SupplyOrder.line_id)
            .join(Unit, Unit.id == SupplyOrder.unit_id)
            .join(UnitInstitution, UnitInstitution.id == Unit.institution_id)
            .order_by(SupplyOrder.id)
        ),
        key=("order_id",),
        links=(TO_CONTRACT, TO_CLAVE, TO_UNIT),
    ),
    Table(
        "deliveries",
        "Entregas",
        "Cada envío de un proveedor contra una orden y, una vez recibido, cuándo y la huella "
        "de su acta de recepción. Sin los nombres de quienes enviaron o recibieron.",
        "Every shipment a supplier sent against an order and, once received, when and the "
        "SHA-256 of its receipt document. Without the names of who shipped or received it.",
        (
            SHIPMENT,
            *ORDER,
            *CONTRACT,
            Column(
                "shipment_number",
                INTEGER,
                "Número de la entrega en la orden.",
                "The shipment's number within its order.",
                Shipment.number,
            ),
            Column(
                "status",
                TEXT,
                "Estado: enviado o recibido.",
                "Status: enviado (shipped) or recibido (received).",
                Shipment.status,
            ),
            Column("shipped_at", DATETIME, "Envío.", "When it was shipped.", Shipment.shipped_at),
            RECEIVED_AT,
            Column(
                "receipt_sha256",
                TEXT,
                "SHA-256 del acta de recepción.",
                "The SHA-256 of the receipt document.",
                Shipment.receipt_sha256,
            ),
        ),
        lambda q: (
            q.select_from(Shipment)
            .join(SupplyOrder, SupplyOrder.id == Shipment.order_id)
            .join(Contract, Contract.id == SupplyOrder.contract_id)
            .order_by(Shipment.id)
        ),
        key=("shipment_id",),
        links=(TO_ORDER, TO_CONTRACT),
    ),
    Table(
        "delivery_lots",
        "Lotes entregados",
        "Cada lote de cada entrega como lo envió el proveedor: caducidad, cantidad y registro "
        "sanitario.",
        "Every lot of every shipment as the supplier sent it: expiry, quantity and sanitary "
        "registration.",
        (
            SHIPMENT,
            LOT,
            Column("expiry", DATE, "Caducidad.", "The lot's expiry date.", ShipmentLot.expiry),
            Column(
                "quantity",
                INTEGER,
                "Piezas enviadas.",
                "Pieces shipped.",
                ShipmentLot.quantity,
            ),
            Column(
                "registro_sanitario",
                TEXT,
                "Registro sanitario.",
                "The sanitary registration (COFEPRIS).",
                ShipmentLot.registro_sanitario,
            ),
        ),
        lambda q: (
            q.select_from(ShipmentLot)
            .join(Shipment, Shipment.id == ShipmentLot.shipment_id)
            .order_by(Shipment.id, ShipmentLot.id)
        ),
        key=("shipment_id", "lot"),
        links=(TO_SHIPMENT,),
    ),
    Table(
        "receipts",
        "Recepciones",
        "Lo que la unidad aceptó y rechazó de cada lote recibido, con el motivo del rechazo.",
        "What the receiving unit accepted and rejected of every lot received, with the reason "
        "of a rejection.",
        (
            SHIPMENT,
            LOT,
            RECEIVED_AT,
            Column(
                "accepted_qty",
                INTEGER,
                "Piezas aceptadas.",
                "Pieces accepted.",
                ShipmentLot.accepted_qty,
            ),
            Column(
                "rejected_qty",
                INTEGER,
                "Piezas rechazadas.",
                "Pieces rejected.",
                ShipmentLot.rejected_qty,
            ),
            Column(
                "reason",
                TEXT,
                "Motivo del rechazo: danado, caducidad_corta, presentacion o sin_registro.",
                "Why pieces were rejected: danado (damaged), caducidad_corta (shelf life "
                "below the minimum), presentacion (wrong presentation) or sin_registro (no or "
                "another sanitary registration).",
                ShipmentLot.reason,
            ),
        ),
        lambda q: (
            q.select_from(ShipmentLot)
            .join(Shipment, Shipment.id == ShipmentLot.shipment_id)
            .where(Shipment.received_at.is_not(None))
            .order_by(Shipment.id, ShipmentLot.id)
        ),
        key=("shipment_id", "lot"),
        links=(Link(("shipment_id", "lot"), "delivery_lots", ("shipment_id", "lot")),),
    ),
    Table(
        "penalties",
        "Penas convencionales y deductivas",
        "Cada pena convencional (entrega tardía) o deductiva (entrega parcial o deficiente) "
        "cobrada en una orden: la base, los días, la tasa, lo calculado y lo cobrado (tope: la "
        "garantía).",
        "Every late-delivery penalty (pena convencional) or deduction (deductiva) charged on an "
        "order: the base value, days late, rate, the amount computed and the amount charged "
        "(capped by the guarantee).",
        (
            Column(
                "penalty_id",
                INTEGER,
                "Identificador de la pena en Abasto.",
                "The penalty's id in Abasto.",
                Penalty.id,
            ),
            *CONTRACT,
            Column(
                "order_id",
                INTEGER,
                "Orden de suministro.",
                "The supply order's id.",
                Penalty.order_id,
            ),
            Column(
                "shipment_id",
                INTEGER,
                "Entrega que la originó, si alguna.",
                "The shipment that caused it, if any.",
                Penalty.shipment_id,
            ),
            Column(
                "kind",
                TEXT,
                "Tipo: pena o deductiva.",
                "Kind: pena (late delivery) or deductiva (partial or deficient delivery).",
                Penalty.kind,
            ),
            Column(
                "base_value",
                DECIMAL,
                "Valor sobre el que se calcula, en pesos.",
                "The value it is computed on, in pesos.",
                Penalty.base_value,
            ),
            Column(
                "days_late",
                INTEGER,
                "Días naturales de atraso.",
                "Natural days late.",
                Penalty.days_late,
            ),
            Column(
                "rate",
                DECIMAL,
                "Tasa (por día en las penas).",
                "The rate (per day, for penas).",
                Penalty.rate,
            ),
            Column(
                "computed",
                DECIMAL,
                "Monto calculado, en pesos.",
                "The amount computed, in pesos.",
                Penalty.computed,
            ),
            Column(
                "amount",
                DECIMAL,
                "Monto cobrado (con el tope de la garantía), en pesos.",
                "The amount charged (after the guarantee cap), in pesos.",
                Penalty.amount,
            ),
            Column("at", DATETIME, "Cuándo se cobró.", "When it was charged.", Penalty.at),
        ),
        lambda q: (
            q.select_from(Penalty)
            .join(Contract, Contract.id == Penalty.contract_id)
            .order_by(Penalty.id)
        ),
        key=("penalty_id",),
        links=(TO_CONTRACT, TO_ORDER, TO_SHIPMENT),
    ),
)

# ----- red flags ----------------------------------------------------------------------------

FlagSupplier = aliased(Supplier)

RED_FLAGS = Table(
    "red_flags",
    "Banderas rojas",
    "Las banderas rojas de los datos de Abasto en su último cálculo, con su explicación.",
    "The red flags of Abasto's own data as last computed, each with its explanation.",
    (
        Column("code", TEXT, "Indicador (código).", "The indicator's code.", RedFlag.code),
        Column("kind", TEXT, "Tipo de sujeto.", "What the flag is about.", RedFlag.kind),
        Column("subject", TEXT, "Sujeto.", "The flagged subject.", RedFlag.subject),
        Column(
            "tender_number",
            TEXT,
            "Número de la licitación.",
            "The tender's public number, if any.",
            RedFlag.tender_number,
        ),
        Column(
            "partida_number",
            INTEGER,
            "Número de la partida.",
            "The partida's number, if any.",
            RedFlag.partida_number,
        ),
        Column(
            "supplier_rfc",
            TEXT,
            "RFC del proveedor.",
            "The supplier's tax id (RFC), if any.",
            RedFlag.supplier_rfc,
        ),
        Column(
            "supplier_name",
            TEXT,
            "Razón social del proveedor.",
            "The supplier's legal name, if any.",
            FlagSupplier.razon_social,
        ),
        Column(
            "institution_code",
            TEXT,
            "Clave de la institución.",
            "The institution's code, if any.",
            RedFlag.institution_code,
        ),
        Column(
            "clave",
            TEXT,
            "Clave del Compendio.",
            "The clave, if any.",
            RedFlag.clave,
        ),
        Column("value", NUMBER, "Valor medido.", "The measured value.", RedFlag.value),
        Column(
            "threshold",
            NUMBER,
            "Umbral del indicador.",
            "The indicator's threshold.",
            RedFlag.threshold,
        ),
        Column(
            "explanation",
            TEXT,
            "Explicación.",
            "The explanation, in Spanish.",
            RedFlag.explanation,
        ),
        Column(
            "computed_at",
            DATETIME,
            "Cálculo.",
            "When the flags were computed.",
            RedFlagRun.at,
        ),
    ),
    lambda q: (
        q.select_from(RedFlag)
        .join(RedFlagRun, RedFlagRun.id == RedFlag.run_id)
        .outerjoin(FlagSupplier, FlagSupplier.id == RedFlag.supplier_id)
        .order_by(RedFlag.code, RedFlag.id)
    ),
    links=(
        Link(("tender_number",), "tenders", ("tender_number",)),
        TO_SUPPLIER,
        TO_INSTITUTION,
        TO_CLAVE,
    ),
)

# ----- inventory: the abasto indicator, daily ------------------------------------------------

AbastoUnit = aliased(Unit)
AbastoInstitution = aliased(Institution)


def _scope(scope: str, query: Query) -> Query:
    return query.where(DailyAbasto.scope == scope)


ABASTO: tuple[Table, ...] = (
    Table(
        "abasto_daily",
        "Abasto diario",
        "El indicador de abasto de cada día: de la lista de claves de las unidades, cuántas "
        "tenían existencia y cuántas al menos su mínimo de meses de consumo, por unidad, "
        "institución, entidad federativa y el país.",
        "The abasto indicator of each day for every scope at once: of the units' clave lists, "
        "how many had stock and how many at least their minimum months of consumption, per "
        "unit, institution, state and the nation. Abasto = with_stock / listed.",
        (
            DAY,
            Column(
                "scope",
                TEXT,
                "Alcance: unit (unidad), institution, state (entidad) o nation (país).",
                "The scope: unit, institution, state or nation.",
                DailyAbasto.scope,
            ),
            Column(
                "key",
                TEXT,
                "Id de la unidad, clave de la institución o clave INEGI de la entidad; vacío "
                "para el país.",
                "The unit's id, the institution's code or the state's INEGI code; empty for "
                "the nation.",
                DailyAbasto.key,
            ),
            *_abasto_counts(),
        ),
        lambda q: q.order_by(DailyAbasto.day, DailyAbasto.scope, DailyAbasto.key),
    ),
    Table(
        "abasto_units_daily",
        "Abasto diario por unidad",
        "El indicador de abasto de cada unidad cada día, con la unidad identificada.",
        "The abasto indicator of each unit on each day, with the unit named. "
        "Abasto = with_stock / listed.",
        (
            DAY,
            _institution_code(AbastoInstitution.code),
            _unit_code(AbastoUnit.code),
            Column("unit_name", TEXT, "Nombre de la unidad.", "The unit's name.", AbastoUnit.name),
            _state_code(AbastoUnit.state_code),
            *_abasto_counts(),
        ),
        lambda q: _scope(
            "unit",
            q.select_from(DailyAbasto)
            .join(AbastoUnit, cast(AbastoUnit.id, String) == DailyAbasto.key)
            .join(AbastoInstitution, AbastoInstitution.id == AbastoUnit.institution_id),
        ).order_by(DailyAbasto.day, AbastoInstitution.code, AbastoUnit.code),
        key=("day", "institution_code", "unit_code"),
        links=(TO_UNIT,),
    ),
    Table(
        "abasto_institutions_daily",
        "Abasto diario por institución",
        "El indicador de abasto de cada institución cada día (la suma de sus unidades).",
        "The abasto indicator of each institution on each day (the sum over its units). "
        "Abasto = with_stock / listed.",
        (
            DAY,
            _institution_code(AbastoInstitution.code),
            Column(
                "institution_name",
                TEXT,
                "Nombre de la institución.",
                "The institution's name.",
                AbastoInstitution.name,
            ),
            *_abasto_counts(),
        ),
        lambda q: _scope(
            "institution",
            q.select_from(DailyAbasto).join(
                AbastoInstitution, AbastoInstitution.code == DailyAbasto.key
            ),
        ).order_by(DailyAbasto.day, AbastoInstitution.code),
        key=("day", "institution_code"),
        links=(TO_INSTITUTION,),
    ),
    Table(
        "abasto_states_daily",
        "Abasto diario por entidad federativa",
        "El indicador de abasto de cada entidad federativa cada día (la suma de sus unidades).",
        "The abasto indicator of each state on each day (the sum over the units in it). "
        "Abasto = with_stock / listed.",
        (
            DAY,
            Column(
                "state_code",
                TEXT,
                "Entidad federativa (clave INEGI); vacía: unidades sin entidad.",
                "The state (INEGI code); empty for units without one.",
                DailyAbasto.key,
            ),
            *_abasto_counts(),
        ),
        lambda q: _scope("state", q).order_by(DailyAbasto.day, DailyAbasto.key),
    ),
)

TABLES: tuple[Table, ...] = (*TENDERING, *REGISTRY, *CONTRACTS, RED_FLAGS, *ABASTO)
BY_NAME = {table.name: table for table in TABLES}
