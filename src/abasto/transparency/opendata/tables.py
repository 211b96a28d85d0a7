"""The public tables of open data: what each holds, its columns explained, and its query.

Each table is one SQL query over whole tables, read in batches by ``service``. Only what the
public may see goes in: tenders once published, bids only once opened and matching their
commitment (as the award reads them), never a sealed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, select
from sqlalchemy.orm import InstrumentedAttribute

from abasto.award.models import ContractDraft, Fallo, FalloLine, PriceObservation
from abasto.catalog.models import Clave
from abasto.demand.models import DemandRound
from abasto.identity.models import Institution, Supplier
from abasto.inventory.models import DailyAbasto
from abasto.tendering import service as tendering
from abasto.tendering.models import Bid, BidLine, Partida, PartidaDemand, Tender

TEXT, INTEGER, DECIMAL, DATETIME, DATE = "text", "integer", "decimal", "datetime", "date"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """English snake_case, as in the file's header."""
    kind: str
    description: str
    """In Spanish, for the download page and the export's datapackage.json."""
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
class Table:
    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    where: Callable[[Select[tuple[object, ...]]], Select[tuple[object, ...]]]
    """The joins, conditions and order that complete the select of the columns."""

    def query(self) -> Select[tuple[object, ...]]:
        return self.where(select(*(c.expr.label(c.name) for c in self.columns)))


def _published(query: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
    return query.where(Tender.published_at.is_not(None))


TENDER = (
    Column("tender_id", INTEGER, "Identificador de la licitación en Abasto.", Tender.id),
    Column("tender_number", TEXT, "Número de la licitación.", Tender.number),
)
CLAVE = Column("clave", TEXT, "Clave del Compendio Nacional de Insumos para la Salud.", Clave.clave)
SUPPLIER = (
    Column("supplier_rfc", TEXT, "RFC del proveedor.", Supplier.rfc),
    Column("supplier_name", TEXT, "Razón social del proveedor.", Supplier.razon_social),
)
INSTITUTION = (
    Column("institution_code", TEXT, "Clave de la institución.", Institution.code),
    Column("institution_name", TEXT, "Nombre de la institución.", Institution.name),
)
FALLO = (
    Column("fallo_issued_at", DATETIME, "Instante en que se emitió el fallo.", Fallo.issued_at),
)


def _partida(number: InstrumentedAttribute[int]) -> Column:
    return Column("partida_number", INTEGER, "Número de la partida en la licitación.", number)


TABLES: tuple[Table, ...] = (
    Table(
        "tenders",
        "Licitaciones",
        "Cada procedimiento publicado: tipo, estado y fechas de su calendario.",
        (
            *TENDER,
            Column("title", TEXT, "Título de la licitación.", Tender.title),
            Column(
                "procedure",
                TEXT,
                "Tipo de procedimiento: licitacion_nacional, licitacion_internacional, "
                "invitacion o adjudicacion_directa.",
                Tender.procedure,
            ),
            Column(
                "status",
                TEXT,
                "Estado: clarifications (junta de aclaraciones), bidding (recepción), closed, "
                "opening (apertura), opened (abiertas), awarded (con fallo) o cancelled.",
                Tender.status,
            ),
            Column("round", TEXT, "Ronda de demanda de la que salió, si alguna.", DemandRound.name),
            Column("legal_basis", TEXT, "Fundamento legal (excepciones).", Tender.legal_basis),
            Column("justification", TEXT, "Justificación (excepciones).", Tender.justification),
            Column(
                "published_at", DATETIME, "Publicación de la convocatoria.", Tender.published_at
            ),
            Column(
                "clarification_deadline",
                DATETIME,
                "Límite para preguntas de la junta de aclaraciones.",
                Tender.clarification_deadline,
            ),
            Column("bid_deadline", DATETIME, "Cierre de proposiciones.", Tender.bid_deadline),
            Column("opening_at", DATETIME, "Apertura de proposiciones.", Tender.opening_at),
            Column("opened_at", DATETIME, "Fin de la apertura.", Tender.opened_at),
            Column("fallo_at", DATETIME, "Fecha prevista del fallo.", Tender.fallo_at),
            Column("cancelled_at", DATETIME, "Cancelación, si la hubo.", Tender.cancelled_at),
            Column("cancel_reason", TEXT, "Motivo de la cancelación.", Tender.cancel_reason),
        ),
        lambda q: _published(q.outerjoin(DemandRound, DemandRound.id == Tender.round_id)).order_by(
            Tender.id
        ),
    ),
    Table(
        "partidas",
        "Partidas",
        "Una clave por partida de cada licitación, con la cantidad mínima y máxima consolidada.",
        (
            *TENDER,
            _partida(Partida.number),
            CLAVE,
            Column("clave_description", TEXT, "Descripción de la clave.", Clave.description),
            Column("min_qty", INTEGER, "Cantidad mínima (piezas).", Partida.min_qty),
            Column("max_qty", INTEGER, "Cantidad máxima (piezas).", Partida.max_qty),
            Column(
                "desierta_at", DATETIME, "Declaración de desierta, si la hubo.", Partida.desierta_at
            ),
            Column("desierta_reason", TEXT, "Motivo de la declaración.", Partida.desierta_reason),
        ),
        lambda q: _published(
            q.select_from(Partida)
            .join(Tender, Tender.id == Partida.tender_id)
            .join(Clave, Clave.id == Partida.clave_id)
        ).order_by(Tender.id, Partida.number),
    ),
    Table(
        "partida_demands",
        "Demanda por institución",
        "Lo que cada institución pide de cada partida (mínimo y máximo).",
        (
            *TENDER,
            _partida(Partida.number),
            CLAVE,
            *INSTITUTION,
            Column("min_qty", INTEGER, "Cantidad mínima (piezas).", PartidaDemand.min_qty),
            Column("max_qty", INTEGER, "Cantidad máxima (piezas).", PartidaDemand.max_qty),
        ),
        lambda q: _published(
            q.select_from(PartidaDemand)
            .join(Partida, Partida.id == PartidaDemand.partida_id)
            .join(Tender, Tender.id == Partida.tender_id)
            .join(Clave, Clave.id == Partida.clave_id)
            .join(Institution, Institution.id == PartidaDemand.institution_id)
        ).order_by(Tender.id, Partida.number, Institution.code),
    ),
    Table(
        "bids",
        "Proposiciones abiertas",
        "Cada partida de cada proposición abierta en público y que coincide con su compromiso. "
        "Las proposiciones selladas no aparecen: nada de ellas se conoce antes de la apertura.",
        (
            *TENDER,
            Column("bid_id", TEXT, "Identificador de la proposición (su folio).", Bid.id),
            *SUPPLIER,
            Column(
                "submitted_at", DATETIME, "Llegada de la proposición sellada.", Bid.submitted_at
            ),
            Column("opened_at", DATETIME, "Apertura de la proposición.", Bid.opened_at),
            _partida(BidLine.partida_number),
            CLAVE,
            Column(
                "unit_price", DECIMAL, "Precio unitario ofrecido, en pesos.", BidLine.unit_price
            ),
            Column("quantity", INTEGER, "Cantidad ofrecida (piezas).", BidLine.quantity),
            Column("presentation", TEXT, "Presentación ofrecida.", BidLine.presentation),
            Column("registro_sanitario", TEXT, "Registro sanitario.", BidLine.registro_sanitario),
            Column("manufacturer", TEXT, "Fabricante.", BidLine.manufacturer),
            Column("country", TEXT, "País de origen.", BidLine.country),
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
    ),
    Table(
        "awards",
        "Adjudicaciones (fallo)",
        "Cada ganador de cada partida en el fallo: cantidad, precio y el precio de referencia "
        "con que se evaluó.",
        (
            *TENDER,
            *FALLO,
            Column(
                "fallo_mode", TEXT, "Modo de adjudicación: lowest, split u optimal.", Fallo.mode
            ),
            _partida(FalloLine.partida_number),
            CLAVE,
            *SUPPLIER,
            Column("bid_id", TEXT, "Proposición ganadora.", FalloLine.bid_id),
            Column("quantity", INTEGER, "Cantidad adjudicada (piezas).", FalloLine.quantity),
            Column(
                "unit_price", DECIMAL, "Precio unitario adjudicado, en pesos.", FalloLine.unit_price
            ),
            Column(
                "reference_price",
                DECIMAL,
                "Precio de referencia (investigación de mercado) usado en el fallo.",
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
    ),
    Table(
        "contracts",
        "Contratos (proyectos)",
        "Lo que cada institución contratará con cada proveedor por partida, según el fallo: "
        "contrato abierto con mínimo y máximo.",
        (
            *TENDER,
            *FALLO,
            _partida(Partida.number),
            CLAVE,
            *INSTITUTION,
            *SUPPLIER,
            Column("min_qty", INTEGER, "Cantidad mínima (piezas).", ContractDraft.min_qty),
            Column("max_qty", INTEGER, "Cantidad máxima (piezas).", ContractDraft.max_qty),
            Column("unit_price", DECIMAL, "Precio unitario, en pesos.", ContractDraft.unit_price),
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
    ),
    Table(
        "reference_prices",
        "Precios observados (investigación de mercado)",
        "Cada precio unitario observado de una clave: listas de precios, fallos anteriores, "
        "datos OCDS de otros publicadores. La referencia de una clave es la mediana de sus "
        "observaciones.",
        (
            CLAVE,
            Column(
                "source_kind",
                TEXT,
                "Tipo de fuente: abasto (un fallo), lista u ocds.",
                PriceObservation.source_kind,
            ),
            Column(
                "source", TEXT, "Archivo, licitación u ocid de origen.", PriceObservation.source
            ),
            Column("source_ref", TEXT, "Dónde en la fuente.", PriceObservation.source_ref),
            Column("unit_price", DECIMAL, "Precio unitario en pesos.", PriceObservation.unit_price),
            Column(
                "original_price",
                DECIMAL,
                "Precio en su moneda original.",
                PriceObservation.original_price,
            ),
            Column("currency", TEXT, "Moneda original (ISO 4217).", PriceObservation.currency),
            Column("rate", DECIMAL, "Tipo de cambio a pesos.", PriceObservation.rate),
            Column("observed_on", DATE, "Fecha de la observación.", PriceObservation.observed_on),
            Column("imported_at", DATETIME, "Importación a Abasto.", PriceObservation.imported_at),
        ),
        lambda q: (
            q.select_from(PriceObservation)
            .join(Clave, Clave.id == PriceObservation.clave_id)
            .order_by(Clave.clave, PriceObservation.id)
        ),
    ),
    Table(
        "suppliers",
        "Proveedores",
        "Los proveedores registrados en Abasto.",
        (
            Column("rfc", TEXT, "RFC.", Supplier.rfc),
            Column("name", TEXT, "Razón social.", Supplier.razon_social),
            Column("state_code", TEXT, "Entidad federativa (clave INEGI).", Supplier.state_code),
            Column("registered_on", DATE, "Fecha de registro.", Supplier.registered_on),
        ),
        lambda q: q.order_by(Supplier.rfc),
    ),
    Table(
        "abasto_daily",
        "Abasto diario",
        "El indicador de abasto de cada día: de la lista de claves de las unidades, cuántas "
        "tenían existencia y cuántas al menos su mínimo de meses de consumo, por unidad, "
        "institución, entidad federativa y el país.",
        (
            Column("day", DATE, "Día del indicador.", DailyAbasto.day),
            Column(
                "scope",
                TEXT,
                "Alcance: unit (unidad), institution, state (entidad) o nation (país).",
                DailyAbasto.scope,
            ),
            Column(
                "key",
                TEXT,
                "Id de la unidad, clave de la institución o clave INEGI de la entidad; vacío "
                "para el país.",
                DailyAbasto.key,
            ),
            Column("listed", INTEGER, "Claves-unidad de la lista.", DailyAbasto.listed),
            Column("with_stock", INTEGER, "Con existencia.", DailyAbasto.with_stock),
            Column(
                "at_minimum", INTEGER, "Con al menos su mínimo de meses.", DailyAbasto.at_minimum
            ),
            Column("below_min", INTEGER, "Bajo el mínimo.", DailyAbasto.below_min),
            Column("above_max", INTEGER, "Sobre el máximo.", DailyAbasto.above_max),
            Column(
                "expiring", INTEGER, "Piezas que caducan en 90 días o menos.", DailyAbasto.expiring
            ),
        ),
        lambda q: q.order_by(DailyAbasto.day, DailyAbasto.scope, DailyAbasto.key),
    ),
)
BY_NAME = {table.name: table for table in TABLES}
