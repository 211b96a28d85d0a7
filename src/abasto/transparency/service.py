"""Reading the ledger for the public and for auditors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from abasto.core.context import Context
from abasto.core.errors import NotFound
from abasto.core.ledger import LedgerEntry

PAGE_SIZE = 50

ACTION_NAMES: dict[str, str] = {
    "bid.missing": "Proposición no encontrada en la apertura",
    "bid.open": "Proposición abierta",
    "bid.seal": "Proposición sellada",
    "bid.withdraw": "Proposición retirada",
    "catalog.import": "Catálogo importado",
    "clave.create": "Clave dada de alta",
    "clave.update": "Clave modificada",
    "consumption.import": "Consumo importado",
    "contract.amend": "Convenio modificatorio de contrato",
    "contract.create": "Contrato formalizado desde el fallo",
    "contract.effective": "Contrato vigente",
    "contract.guarantee": "Garantía de cumplimiento registrada",
    "contract.guarantee_exempt": "Garantía de cumplimiento exceptuada",
    "contract.penalty_cap": "Penas al tope de la garantía: contrato para rescisión",
    "contract.sign": "Contrato firmado",
    "demand.import": "Anexo de demanda importado",
    "demand.lines": "Líneas de demanda guardadas",
    "demand.observation.accept": "Observación de demanda aceptada",
    "demand.observations": "Observaciones del anexo de demanda",
    "demand.submit": "Demanda enviada",
    "evaluation.change": "Dictamen técnico cambiado",
    "evaluation.record": "Dictamen técnico registrado",
    "fallo.issue": "Fallo emitido",
    "forecast.run": "Pronóstico calculado",
    "homologation.create": "Homologación de clave creada",
    "homologation.import": "Homologaciones importadas",
    "homologation.update": "Homologación de clave modificada",
    "inventory.partitions": "Particiones mensuales de movimientos creadas",
    "inventory.snapshot": "Indicadores diarios de inventario calculados",
    "institution.alias": "Nombre alterno de institución",
    "institution.register": "Institución registrada",
    "institution.rename": "Institución renombrada",
    "institution.retire": "Institución retirada",
    "institution.update": "Institución modificada",
    "line.remove": "Línea de demanda eliminada",
    "line.set": "Línea de demanda capturada",
    "login.blocked": "Acceso bloqueado por intentos fallidos",
    "login.failed": "Intentos de acceso fallidos",
    "order.close": "Orden de suministro cerrada",
    "order.confirm": "Orden de suministro confirmada por el proveedor",
    "order.issue": "Orden de suministro emitida",
    "order.load": "Órdenes de suministro y entregas cargadas en bloque",
    "partida.desierta": "Partida declarada desierta",
    "prices.import": "Precios de referencia importados",
    "question.answer": "Pregunta respondida",
    "question.ask": "Pregunta en la junta de aclaraciones",
    "redflags.run": "Banderas rojas calculadas",
    "registry.sync": "Registro del sector sincronizado",
    "redistribution.suggest": "Redistribución sugerida",
    "round.deadline": "Plazo de una ronda de demanda cambiado",
    "round.freeze": "Ronda de demanda congelada",
    "round.open": "Ronda de demanda abierta",
    "round.reopen": "Ronda de demanda reabierta",
    "sanctions.import": "Lista de sancionados importada",
    "scenario.load": "Escenario de demostración cargado",
    "shipment.receive": "Entrega recibida en la unidad",
    "shipment.record": "Embarque registrado por el proveedor",
    "stock.adjust": "Ajuste de inventario",
    "stock.count": "Conteo físico de inventario",
    "stock.day": "Movimientos del día cargados",
    "stock.dispense": "Dispensación registrada",
    "stock.expiry": "Baja por caducidad",
    "stock.history": "Historial de inventario cargado",
    "stock.initial": "Inventario inicial registrado",
    "stock.policy": "Máximos y mínimos de inventario definidos",
    "stock.receive": "Recepción en almacén",
    "stock.upload": "Archivo de movimientos de inventario cargado",
    "supplier.register": "Proveedor registrado",
    "supplier.reject": "Registro de proveedor rechazado",
    "supplier.rename.reject": "Cambio de razón social rechazado",
    "supplier.rename.request": "Cambio de razón social solicitado",
    "supplier.sanctioned": "Proveedor vinculado a una sanción",
    "supplier.update": "Proveedor modificado",
    "supplier.verify": "Proveedor verificado",
    "tender.amend": "Licitación modificada",
    "tender.attention": "Licitación requiere atención",
    "tender.bids_closed": "Cierre de recepción de proposiciones",
    "tender.cancel": "Licitación cancelada",
    "tender.clarifications_closed": "Cierre de la junta de aclaraciones",
    "tender.create": "Licitación creada",
    "tender.edit": "Borrador de licitación modificado",
    "tender.opened": "Apertura concluida",
    "tender.opening_started": "Apertura iniciada",
    "tender.publish": "Licitación publicada",
    "tender.resume": "Licitación reanudada",
    "tender.suspend": "Licitación suspendida",
    "transfer.cancel": "Transferencia cancelada",
    "transfer.create": "Transferencia propuesta",
    "transfer.issue": "Transferencia enviada",
    "transfer.receive": "Transferencia recibida",
    "unit.register": "Unidad registrada",
    "unit.rename": "Unidad renombrada",
    "unit.retire": "Unidad retirada",
    "unit.update": "Unidad modificada",
    "units.import": "Unidades importadas (CLUES)",
    "user.create": "Usuario creado",
}
"""What each action is called on the pages; ``tests/transparency/test_ledger_page.py`` finds every
action the code records and fails on one without a name here."""

SESSION_ACTIONS = ("login.failed", "login.blocked")
"""Entries about signing in, which an auditor may hide to read what was done."""


def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action)


@dataclass(frozen=True, slots=True)
class LedgerFilters:
    action: str = ""
    actor: str = ""
    entity: str = ""
    since: datetime | None = None
    until: datetime | None = None
    hide_sessions: bool = False


@dataclass(frozen=True, slots=True)
class LedgerSlice:
    """One page of entries, newest first, and where the pages before and after it start."""

    entries: Sequence[LedgerEntry]
    older: int | None
    """The ``antes`` of the next page (older entries), when there is one."""
    newer: int | None
    """The ``despues`` of the previous page (newer entries), when there is one."""


def _visible(ctx: Context, filters: LedgerFilters) -> Select[LedgerEntry]:
    query = select(LedgerEntry)
    if not ctx.actor.has_role("auditor"):
        query = query.where(LedgerEntry.public)
    if filters.action:
        query = query.where(LedgerEntry.action == filters.action)
    if filters.actor:
        query = query.where(LedgerEntry.actor == filters.actor)
    if filters.entity:
        query = query.where(LedgerEntry.entity == filters.entity)
    if filters.since:
        query = query.where(LedgerEntry.at >= filters.since)
    if filters.until:
        query = query.where(LedgerEntry.at < filters.until)
    if filters.hide_sessions:
        query = query.where(LedgerEntry.action.not_in(SESSION_ACTIONS))
    return query


def ledger_slice(
    ctx: Context,
    filters: LedgerFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    per_page: int = PAGE_SIZE,
) -> LedgerSlice:
    """Keyset pages over the ledger, newest first: the entries older than ``before`` or, going
    back towards the newest, those newer than ``after``. Reads one page and one more entry by
    the primary key, never the whole ledger, whatever its size. The public sees public entries;
    auditors see every entry."""
    query = _visible(ctx, filters)
    if after is not None:
        rows = ctx.db.scalars(
            query.where(LedgerEntry.seq > after).order_by(LedgerEntry.seq).limit(per_page + 1)
        ).all()
        more_newer = len(rows) > per_page
        entries = list(reversed(rows[:per_page]))
        older_exists = bool(entries)
        return LedgerSlice(
            entries,
            entries[-1].seq if older_exists else None,
            entries[0].seq if more_newer else None,
        )
    if before is not None:
        query = query.where(LedgerEntry.seq < before)
    rows = ctx.db.scalars(query.order_by(LedgerEntry.seq.desc()).limit(per_page + 1)).all()
    entries = list(rows[:per_page])
    return LedgerSlice(
        entries,
        entries[-1].seq if len(rows) > per_page else None,
        entries[0].seq if before is not None and entries else None,
    )


def ledger_entry(ctx: Context, seq: int) -> LedgerEntry:
    """One entry with its payload: public ones for everyone, every one for auditors."""
    entry = ctx.db.get(LedgerEntry, seq)
    if entry is None or not (entry.public or ctx.actor.has_role("auditor")):
        raise NotFound(f"No hay una entrada {seq} visible en la bitácora.")
    return entry


def ledger_actors(ctx: Context, *, limit: int = 200) -> list[str]:
    """Who appears in the ledger most recently, for the actor filter's suggestions."""
    query = _visible(ctx, LedgerFilters())
    newest = query.order_by(LedgerEntry.seq.desc()).limit(5_000).subquery()
    return list(ctx.db.scalars(select(newest.c.actor).distinct().limit(limit)).all())


def ledger_page(
    ctx: Context, *, page: int, per_page: int = PAGE_SIZE
) -> tuple[Sequence[LedgerEntry], int]:
    """Newest first, by page number, for the API. The public sees public entries; auditors see
    every entry."""
    query = _visible(ctx, LedgerFilters())
    total = ctx.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    entries = ctx.db.scalars(
        query.order_by(LedgerEntry.seq.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return entries, total
