"""Use cases of demand: rounds, institutions' lines, appendix imports, consolidation, forecasts.

Every function that writes takes the ``Context`` and keyword arguments, flushes and never
commits, and appends its ledger entries in the caller's transaction. Writes to a round lock
its row first (``SELECT … FOR UPDATE``; SQLite's single writer does the same), so an import,
a planner's edit and the buyer's freeze never interleave; a planner's edit also carries the
version it read, and a stale one is a ``Conflict`` (409).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from abasto.catalog.models import Clave, Homologation
from abasto.catalog.rules import suggest_clave
from abasto.catalog.service import _search_conditions, get_clave, translate_codes
from abasto.core.context import Context
from abasto.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    ValidationFailed,
    check_version,
)
from abasto.core.ledger import Record
from abasto.core.money import count_of
from abasto.core.spreadsheet import Progress, csv_bytes, find_headers, read_sheets
from abasto.core.text import fold, neutralise_cell
from abasto.demand import appendix, forecast, rules
from abasto.demand.models import (
    ConsolidatedDemand,
    ConsolidatedRound,
    Consumption,
    DemandLine,
    DemandObservation,
    DemandRound,
    ForecastSuggestion,
    RoundInstitution,
)
from abasto.demand.rules import Pair
from abasto.identity.models import Institution, InstitutionAlias, Unit
from abasto.identity.rules import parse_state
from abasto.identity.service import UnitSpec, add_unit, get_institution, register_institution

OPEN, FROZEN = "open", "frozen"
STATUS_LABELS = {OPEN: "Abierta", FROZEN: "Congelada"}

BUYER_KIND = "compra consolidada"
"""The coordinating buyer's kind: it demands nothing, so «all institutions» leaves it out."""

REASON_MAX = 500
_IN_BATCH = 500
"""Ids per ``IN (...)``: well under SQLite's and PostgreSQL's limits on bound parameters."""
_INSERT_BATCH = 5_000
"""Lines per INSERT: the statement's parameters are built batch by batch, not all at once."""
_MAX_SUGGESTIONS = 100
"""Suggesting the closest clave costs ~10 ms against 4,000 claves (see catalog.service)."""


# ----- rounds --------------------------------------------------------------------------------


def get_round(db: Session, name: str) -> DemandRound:
    """The round with this name, or ``NotFound`` listing the rounds there are."""
    found = db.scalar(select(DemandRound).where(DemandRound.name == name.strip()))
    if found is not None:
        return found
    names = db.scalars(select(DemandRound.name).order_by(DemandRound.created_at)).all()
    hint = f" Rondas registradas: {', '.join(names)}." if names else " No hay rondas registradas."
    raise NotFound(f"No existe la ronda de demanda «{name.strip()}».{hint}")


def _locked_round(ctx: Context, name: str, *, writable: bool = True) -> DemandRound:
    """The round, its row locked for this transaction; a frozen one refused when writing."""
    found = ctx.db.scalar(
        select(DemandRound)
        .where(DemandRound.name == name.strip())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        return get_round(ctx.db, name)  # raises NotFound with the list of rounds
    if writable:
        _require_open(found)
    return found


def _require_open(found: DemandRound) -> None:
    if found.status == FROZEN:
        when = f" el {found.frozen_at:%d/%m/%Y}" if found.frozen_at else ""
        raise Conflict(
            f"La ronda «{found.name}» está congelada{when}: no admite cambios; no se guardó nada.",
            expected="una ronda abierta; el comprador puede reabrirla indicando el motivo",
        )


@dataclass(frozen=True, slots=True)
class RoundSummary:
    round: DemandRound
    institutions: int
    submitted: int
    lines: int

    @property
    def pending(self) -> int:
        return self.institutions - self.submitted


def list_rounds(db: Session) -> list[RoundSummary]:
    """Every round, newest first, with how many institutions take part and have submitted."""
    participants = dict(
        db.execute(
            select(RoundInstitution.round_id, func.count()).group_by(RoundInstitution.round_id)
        ).all()
    )
    submitted = dict(
        db.execute(
            select(RoundInstitution.round_id, func.count())
            .where(RoundInstitution.submitted_at.is_not(None))
            .group_by(RoundInstitution.round_id)
        ).all()
    )
    lines = dict(
        db.execute(select(DemandLine.round_id, func.count()).group_by(DemandLine.round_id)).all()
    )
    return [
        RoundSummary(r, participants.get(r.id, 0), submitted.get(r.id, 0), lines.get(r.id, 0))
        for r in db.scalars(select(DemandRound).order_by(DemandRound.created_at.desc()))
    ]


def _round_problems(name: str, min_share: Decimal) -> list[Problem]:
    problems = []
    if not rules.round_name_ok(name):
        problems.append(
            Problem(
                "El nombre de la ronda no es válido.",
                field="name",
                value=name,
                expected=rules.ROUND_NAME_EXPECTED,
            )
        )
    if not Decimal(0) < min_share <= Decimal(1) or min_share != round(min_share, 4):
        problems.append(
            Problem(
                "La proporción mínima no es válida.",
                field="min_share",
                value=str(min_share),
                expected="una fracción mayor que 0 y hasta 1, con hasta 4 decimales (p. ej. 0.40)",
            )
        )
    return problems


def open_round(
    ctx: Context,
    *,
    name: str,
    periods: Sequence[str],
    institutions: Sequence[str] | None = None,
    min_share: Decimal = rules.DEFAULT_MIN_SHARE,
    deadline: datetime | None = None,
    n_jobs: int = 2,
) -> DemandRound:
    """Open a round for these periods (years) and institutions (codes; None: all but the buyer).

    ``min_share`` is the minimum-share rule (see ``rules``): every line's minimum must be at
    least ``ceil(max × min_share)``. ``deadline`` is when the institutions should have
    submitted (``set_deadline``). When the participants have consumption on record, every
    clave they consumed gets its forecast at once (``run_forecast``).
    """
    name = name.strip()
    problems = _round_problems(name, min_share)
    try:
        parsed = rules.parse_periods(periods)
    except ValueError as error:
        problems.append(
            Problem(
                f"Los periodos no son válidos: {error}.",
                field="periods",
                value=",".join(periods),
                expected=rules.PERIODS_EXPECTED,
            )
        )
        parsed = []
    if deadline is not None and parsed:
        problems.extend(_deadline_problems(deadline, ctx.now, parsed[-1].end))
    members = _participants(ctx.db, institutions, problems)
    if problems:
        raise ValidationFailed("No se abrió la ronda.", problems=problems)
    if ctx.db.scalar(select(DemandRound.id).where(DemandRound.name == name)) is not None:
        raise Conflict(f"Ya existe la ronda «{name}».")
    opened = DemandRound(
        name=name,
        periods=[period.as_json() for period in parsed],
        min_share=min_share,
        status=OPEN,
        deadline=deadline,
        created_at=ctx.now,
    )
    opened.participants = [RoundInstitution(institution_id=i.id) for i in members]
    ctx.db.add(opened)
    try:
        ctx.db.flush()
    except IntegrityError as exc:
        raise Conflict(f"Otra solicitud abrió la ronda «{name}» al mismo tiempo.") from exc
    _keep_consolidated(ctx.db, opened)
    ctx.record(
        "round.open",
        f"round:{name}",
        {
            "name": name,
            "periods": opened.periods,
            "min_share": min_share,
            "institutions": [i.code for i in members],
            **({"deadline": deadline} if deadline is not None else {}),
        },
    )
    if _has_history(ctx.db, [i.id for i in members]):
        run_forecast(ctx, round_name=name, n_jobs=n_jobs)
    return opened


def _deadline_problems(deadline: datetime, now: datetime, last_day: date) -> list[Problem]:
    why = rules.deadline_problem(deadline, now, last_day)
    if why is None:
        return []
    return [
        Problem(
            f"La fecha límite no es válida: {why}.",
            field="deadline",
            value=rules.deadline_shown(deadline),
            expected=rules.DEADLINE_EXPECTED,
        )
    ]


def set_deadline(
    ctx: Context, *, name: str, deadline: datetime | None, version: int | None = None
) -> DemandRound:
    """Set, move or (None) remove the round's deadline: the day the institutions should have
    submitted by. A target everyone sees, not a lock: capture is still admitted after it
    (lines and submissions made later show as late) until the buyer freezes the round, which
    is what closes it — an appendix imported late or a correction the buyer asks for must not
    be refused by the calendar."""
    found = _locked_round(ctx, name)
    _check_version(found, version)
    if deadline is not None:
        last_day = date.fromisoformat(found.periods[-1]["end"])
        problems = _deadline_problems(deadline, ctx.now, last_day)
        if problems:
            raise ValidationFailed("No se cambió la fecha límite.", problems=problems)
    previous = found.deadline
    found.deadline = deadline
    _flush_round(ctx, found)
    ctx.record(
        "round.deadline",
        f"round:{found.name}",
        {"name": found.name, "version": found.version, "deadline": deadline, "previous": previous},
    )
    return found


def _participants(
    db: Session, codes: Sequence[str] | None, problems: list[Problem]
) -> list[Institution]:
    if codes is None:
        return list(
            db.scalars(
                select(Institution)
                .where(Institution.kind != BUYER_KIND, Institution.retired_at.is_(None))
                .order_by(Institution.id)
            )
        )
    wanted = list(dict.fromkeys(code.strip().upper() for code in codes if code.strip()))
    found = {i.code: i for i in db.scalars(select(Institution).where(Institution.code.in_(wanted)))}
    for code in wanted:
        if code not in found:
            problems.append(
                Problem(
                    "La institución no está registrada.",
                    field="institutions",
                    value=code,
                    expected="la clave de una institución registrada (p. ej. IMSS), o «all»",
                )
            )
        elif found[code].retired_at is not None:
            problems.append(
                Problem(
                    "La institución está retirada del registro.",
                    field="institutions",
                    value=code,
                    expected="una institución vigente",
                )
            )
    if not wanted:
        problems.append(
            Problem(
                "La ronda necesita al menos una institución.",
                field="institutions",
                expected="claves de instituciones registradas, o «all» para todas",
            )
        )
    return [found[code] for code in wanted if code in found]


def _check_version(found: DemandRound, version: int | None) -> None:
    check_version(f"La ronda «{found.name}»", version, found.version)


def freeze_round(ctx: Context, *, name: str, version: int | None = None) -> DemandRound:
    """Freeze the round: no line changes any more; the ledger keeps a digest of every line."""
    found = _locked_round(ctx, name, writable=False)
    _check_version(found, version)
    if found.status == FROZEN:
        raise Conflict(f"La ronda «{found.name}» ya está congelada.")
    _refuse_pending_observations(ctx.db, found)
    found.status = FROZEN
    found.frozen_at = ctx.now
    _flush_round(ctx, found)
    # What the tender will be built from is kept exactly as the frozen lines say.
    _keep_consolidated(ctx.db, found)
    lines, digest, total = _lines_digest(ctx.db, found)
    ctx.record(
        "round.freeze",
        f"round:{found.name}",
        {
            "name": found.name,
            "version": found.version,
            "lines": lines,
            "lines_sha256": digest,
            "min": total.min,
            "max": total.max,
        },
    )
    return found


def reopen_round(
    ctx: Context, *, name: str, reason: str, version: int | None = None
) -> DemandRound:
    """Reopen a frozen round; the reason is required and goes on the ledger."""
    reason = _reason(reason, "No se reabrió la ronda", "Indique por qué se reabre la ronda.")
    found = _locked_round(ctx, name, writable=False)
    _check_version(found, version)
    if found.status != FROZEN:
        raise Conflict(f"La ronda «{found.name}» está abierta; sólo se reabre una congelada.")
    found.status = OPEN
    found.frozen_at = None
    _flush_round(ctx, found)
    ctx.record(
        "round.reopen",
        f"round:{found.name}",
        {"name": found.name, "version": found.version, "reason": reason},
    )
    return found


def _reason(reason: str, refused: str, asked: str) -> str:
    """A reason as kept (single-spaced), or ``ValidationFailed`` when blank or too long."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(
            f"{refused}: falta el motivo."
            if not reason
            else f"{refused}: el motivo es demasiado largo.",
            problems=[Problem(asked, field="reason", expected=f"de 1 a {REASON_MAX} caracteres")],
        )
    return reason


def _flush_round(ctx: Context, found: DemandRound) -> None:
    try:
        ctx.db.flush()
    except StaleDataError:
        raise Conflict(
            f"La ronda «{found.name}» cambió mientras se modificaba; no se guardó nada."
        ) from None


def _lines_digest(db: Session, found: DemandRound) -> tuple[int, str, Pair]:
    """How many lines, the SHA-256 of them all in a canonical order, and their sums."""
    digest = hashlib.sha256()
    count, total = 0, rules.ZERO
    rows = db.execute(
        select(Institution.code, Clave.clave, DemandLine.unit_code, DemandLine.min_qty)
        .add_columns(DemandLine.max_qty, DemandLine.period)
        .join(Institution, Institution.id == DemandLine.institution_id)
        .join(Clave, Clave.id == DemandLine.clave_id)
        .where(DemandLine.round_id == found.id)
        .order_by(Institution.code, Clave.clave, DemandLine.unit_code, DemandLine.period)
    )
    for code, clave, unit, low, high, period in rows:
        # A period only when the line has one: digests of rounds without periods stay as they were.
        line = f"{code}\t{clave}\t{unit}\t{low}\t{high}" + (f"\t{period}" if period else "")
        digest.update(f"{line}\n".encode())
        count += 1
        total += Pair(low, high)
    return count, digest.hexdigest(), total


@dataclass(frozen=True, slots=True)
class InstitutionProgress:
    code: str
    name: str
    submitted_at: datetime | None
    last_change_at: datetime | None
    lines: int
    total: Pair

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None


@dataclass(frozen=True, slots=True)
class RoundProgress:
    round: DemandRound
    institutions: list[InstitutionProgress]

    @property
    def submitted(self) -> int:
        return sum(1 for i in self.institutions if i.submitted)

    @property
    def pending(self) -> int:
        return len(self.institutions) - self.submitted

    @property
    def lines(self) -> int:
        return sum(i.lines for i in self.institutions)


def round_progress(db: Session, *, name: str) -> RoundProgress:
    """Each participating institution: submitted or pending, its last change and its lines."""
    found = get_round(db, name)
    counts = {
        institution_id: (n, Pair(int(low or 0), int(high or 0)))
        for institution_id, n, low, high in db.execute(
            select(
                DemandLine.institution_id,
                func.count(),
                func.sum(DemandLine.min_qty),
                func.sum(DemandLine.max_qty),
            )
            .where(DemandLine.round_id == found.id)
            .group_by(DemandLine.institution_id)
        )
    }
    rows = db.execute(
        select(RoundInstitution, Institution)
        .join(Institution, Institution.id == RoundInstitution.institution_id)
        .where(RoundInstitution.round_id == found.id)
        .order_by(RoundInstitution.id)
    )
    institutions = []
    for participant, institution in rows:
        lines, total = counts.get(institution.id, (0, rules.ZERO))
        institutions.append(
            InstitutionProgress(
                code=institution.code,
                name=institution.name,
                submitted_at=participant.submitted_at,
                last_change_at=participant.last_change_at,
                lines=lines,
                total=total,
            )
        )
    return RoundProgress(found, institutions)


# ----- who may read and write an institution's lines -----------------------------------------


def _require_reader(ctx: Context, institution_id: int) -> None:
    """Buyers and auditors read every institution's lines; planners only their own."""
    if ctx.actor.has_role("auditor"):
        return
    ctx.require_institution(institution_id)


def _participant(db: Session, found: DemandRound, institution: Institution) -> RoundInstitution:
    participant = db.scalar(
        select(RoundInstitution).where(
            RoundInstitution.round_id == found.id,
            RoundInstitution.institution_id == institution.id,
        )
    )
    if participant is None:
        raise Forbidden(
            f"{institution.code} no participa en la ronda «{found.name}».",
            expected="una institución de la ronda; el comprador decide quiénes participan",
        )
    return participant


def _unit_code(db: Session, institution: Institution, unit_code: str) -> str:
    code = unit_code.strip()
    if not code:
        return ""
    exists = db.scalar(
        select(Unit.id).where(Unit.institution_id == institution.id, Unit.code == code)
    )
    if exists is None:
        raise ValidationFailed(
            f"{institution.code} no tiene la unidad «{code}».",
            problems=[
                Problem(
                    "Unidad no registrada para la institución.",
                    field="unit_code",
                    value=code,
                    expected=f"la clave de una unidad de {institution.code}, o vacío para toda"
                    " la institución",
                )
            ],
        )
    return code


# ----- an institution's lines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuggestionView:
    suggested_max: int
    model: str
    pattern: str
    history_months: int

    @property
    def pattern_label(self) -> str:
        try:
            return forecast.Pattern(self.pattern).label
        except ValueError:
            return self.pattern


@dataclass(frozen=True, slots=True)
class LineView:
    """A clave as an institution's planner sees it: its line (if any) and the suggestion."""

    clave: str
    description: str
    unit: str | None
    unit_code: str
    min_qty: int | None = None
    max_qty: int | None = None
    version: int | None = None
    updated_at: datetime | None = None
    suggestion: SuggestionView | None = None

    @property
    def flag(self) -> str | None:
        """``above``/``below`` when the submitted maximum is far from the suggestion."""
        if self.max_qty is None or self.suggestion is None:
            return None
        return forecast.flag(self.max_qty, self.suggestion.suggested_max)


LINE_FILTERS = ("todas", "con-cantidades", "alertas")


@dataclass(frozen=True, slots=True)
class LinesPage:
    round: DemandRound
    institution: Institution
    unit_code: str
    items: list[LineView]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _line_query(
    found: DemandRound, institution: Institution, unit_code: str
) -> Select[*tuple[Any, ...]]:
    line_on = and_(
        DemandLine.clave_id == Clave.id,
        DemandLine.round_id == found.id,
        DemandLine.institution_id == institution.id,
        DemandLine.unit_code == unit_code,
        # The page edits lines of the whole round; lines per period come from sheets.
        DemandLine.period == "",
    )
    suggestion_on = and_(
        ForecastSuggestion.clave_id == Clave.id,
        ForecastSuggestion.round_id == found.id,
        ForecastSuggestion.institution_id == institution.id,
    )
    return (
        select(
            Clave.clave,
            Clave.description,
            Clave.unit,
            DemandLine.min_qty,
            DemandLine.max_qty,
            DemandLine.version,
            DemandLine.updated_at,
            ForecastSuggestion.suggested_max,
            ForecastSuggestion.model,
            ForecastSuggestion.pattern,
            ForecastSuggestion.history_months,
        )
        .outerjoin(DemandLine, line_on)
        .outerjoin(ForecastSuggestion, suggestion_on)
    )


def _line_view(row: Any, unit_code: str) -> LineView:
    suggestion = None
    if row.suggested_max is not None and not unit_code:
        suggestion = SuggestionView(row.suggested_max, row.model, row.pattern, row.history_months)
    return LineView(
        clave=row.clave,
        description=row.description,
        unit=row.unit,
        unit_code=unit_code,
        min_qty=row.min_qty,
        max_qty=row.max_qty,
        version=row.version,
        updated_at=row.updated_at,
        suggestion=suggestion,
    )


def institution_lines(
    ctx: Context,
    *,
    round_name: str,
    institution_code: str,
    unit_code: str = "",
    q: str = "",
    only: str = "todas",
    page: int = 1,
    per_page: int = 50,
) -> LinesPage:
    """One page of the round's claves (the catalog's) with the institution's line of each.

    ``only`` narrows them: ``con-cantidades`` to the claves with a line, ``alertas`` to the
    lines whose maximum is far from the forecast's suggestion.
    """
    institution = get_institution(ctx.db, institution_code)
    _require_reader(ctx, institution.id)
    found = get_round(ctx.db, round_name)
    unit_code = _unit_code(ctx.db, institution, unit_code)
    query = _line_query(found, institution, unit_code).where(*_search_conditions(q))
    if only in ("con-cantidades", "alertas"):
        query = query.where(DemandLine.id.is_not(None))
    if only == "alertas":
        query = query.where(ForecastSuggestion.id.is_not(None))
        every = [_line_view(r, unit_code) for r in ctx.db.execute(query.order_by(Clave.clave))]
        flagged = [line for line in every if line.flag is not None]
        start = (max(page, 1) - 1) * per_page
        return LinesPage(
            found,
            institution,
            unit_code,
            flagged[start : start + per_page],
            len(flagged),
            page,
            per_page,
        )
    total = ctx.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = ctx.db.execute(
        query.order_by(Clave.clave).offset((max(page, 1) - 1) * per_page).limit(per_page)
    )
    items = [_line_view(row, unit_code) for row in rows]
    return LinesPage(found, institution, unit_code, items, total, page, per_page)


def get_line(
    ctx: Context, *, round_name: str, institution_code: str, clave: str, unit_code: str = ""
) -> LineView:
    """One clave of the institution's page: its line, if it has one, and the suggestion."""
    institution = get_institution(ctx.db, institution_code)
    _require_reader(ctx, institution.id)
    found = get_round(ctx.db, round_name)
    unit_code = _unit_code(ctx.db, institution, unit_code)
    known = get_clave(ctx.db, clave)
    row = ctx.db.execute(
        _line_query(found, institution, unit_code).where(Clave.id == known.id)
    ).one()
    return _line_view(row, unit_code)


def _parse_side(value: int | str | None, side: str, problems: list[Problem]) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            problems.append(
                Problem(
                    "la cantidad es negativa",
                    field=f"{side}_qty",
                    value=str(value),
                    expected=appendix.QUANTITY_EXPECTED,
                )
            )
            return None
        return value
    try:
        return appendix.parse_quantity(value)
    except appendix.QuantityError as error:
        problems.append(
            Problem(
                error.message,
                field=f"{side}_qty",
                value=None if value is None else str(value),
                expected=appendix.QUANTITY_EXPECTED,
            )
        )
        return None


def _stale_line(clave: str, version: int | None, current: int | None) -> Conflict:
    now = "ya no existe" if current is None else f"va en la versión {current}"
    return Conflict(
        f"La línea de la clave {clave} cambió después de que usted la leyó ({now}); "
        "no se guardó nada. Vuelva a leerla y repita el cambio.",
        problems=[
            Problem(
                "La versión enviada ya no es la vigente.",
                field="version",
                value="(nueva)" if version is None else str(version),
                expected="la versión vigente de la línea"
                if current is not None
                else "una línea nueva, sin versión",
            )
        ],
    )


def set_line(
    ctx: Context,
    *,
    round_name: str,
    institution_code: str,
    clave: str,
    min_qty: int | str | None,
    max_qty: int | str | None,
    version: int | None,
    unit_code: str = "",
) -> LineView:
    """Create, change or (both quantities empty) remove one line, if ``version`` is current.

    ``version`` is None for a line the caller saw missing. Quantities may be the text of a
    form field; every problem is reported at once and nothing is written. The ledger gets
    ``line.set`` with the old and new quantities (``line.remove`` for a removal).
    """
    institution = get_institution(ctx.db, institution_code)
    ctx.require_institution(institution.id)
    found = _locked_round(ctx, round_name)
    participant = _participant(ctx.db, found, institution)
    unit_code = _unit_code(ctx.db, institution, unit_code)
    known = get_clave(ctx.db, clave)
    problems: list[Problem] = []
    low = _parse_side(min_qty, "min", problems)
    high = _parse_side(max_qty, "max", problems)
    if not problems:
        problems = [
            Problem(
                issue.message,
                field=f"{issue.field}_qty",
                value=issue.value,
                expected=issue.expected,
            )
            for issue in rules.check_pair(low, high, found.min_share)
        ]
    if problems:
        raise ValidationFailed(
            f"No se guardó la línea de la clave {known.clave}.", problems=problems
        )
    lines = ctx.db.scalars(
        select(DemandLine).where(
            DemandLine.round_id == found.id,
            DemandLine.institution_id == institution.id,
            DemandLine.clave_id == known.id,
            DemandLine.unit_code == unit_code,
        )
    ).all()
    by_period = sorted(line.period for line in lines if line.period)
    if by_period:
        # A line for the whole round beside them would count the clave twice.
        raise ValidationFailed(
            f"La clave {known.clave} tiene cantidades por periodo ({', '.join(by_period)});"
            " no se guardó la línea.",
            expected="cambiarlas subiendo la hoja de la institución con las cantidades de cada"
            " periodo",
        )
    line = lines[0] if lines else None
    current = None if line is None else line.version
    if version != current:
        raise _stale_line(known.clave, version, current)
    entity = f"line:{found.name}:{institution.code}:{known.clave}" + (
        f":{unit_code}" if unit_code else ""
    )
    payload: dict[str, Any] = {
        "round": found.name,
        "institution": institution.code,
        "clave": known.clave,
        "unit": unit_code or None,
    }
    if low is None or high is None:
        if line is not None:
            payload["old"] = {"min": line.min_qty, "max": line.max_qty}
            ctx.db.delete(line)
            _flush_line(ctx, known.clave, version)
            participant.last_change_at = ctx.now
            ctx.record("line.remove", entity, payload)
            _keep_consolidated(ctx.db, found, [known.id])
    elif line is None:
        line = DemandLine(
            round_id=found.id,
            institution_id=institution.id,
            clave_id=known.id,
            unit_code=unit_code,
            min_qty=low,
            max_qty=high,
            updated_at=ctx.now,
        )
        ctx.db.add(line)
        _flush_line(ctx, known.clave, version)
        participant.last_change_at = ctx.now
        _keep_consolidated(ctx.db, found, [known.id])
        ctx.record(
            "line.set",
            entity,
            {**payload, "old": None, "new": {"min": low, "max": high}, "version": line.version},
        )
    elif (line.min_qty, line.max_qty) != (low, high):
        old = {"min": line.min_qty, "max": line.max_qty}
        line.min_qty, line.max_qty, line.updated_at = low, high, ctx.now
        _flush_line(ctx, known.clave, version)
        participant.last_change_at = ctx.now
        _keep_consolidated(ctx.db, found, [known.id])
        ctx.record(
            "line.set",
            entity,
            {**payload, "old": old, "new": {"min": low, "max": high}, "version": line.version},
        )
    ctx.db.flush()
    return get_line(
        ctx,
        round_name=found.name,
        institution_code=institution.code,
        clave=known.clave,
        unit_code=unit_code,
    )


def _flush_line(ctx: Context, clave: str, version: int | None) -> None:
    try:
        ctx.db.flush()
    except StaleDataError:
        raise _stale_line(clave, version, None) from None
    except IntegrityError as exc:
        raise Conflict(
            f"Otra persona capturó la clave {clave} al mismo tiempo; no se guardó nada. "
            "Vuelva a leer la línea."
        ) from exc


def submit_demand(ctx: Context, *, round_name: str, institution_code: str) -> RoundInstitution:
    """Mark the institution's demand as submitted (it may still change it while the round is
    open); the ledger keeps how many lines and what total it submitted."""
    institution = get_institution(ctx.db, institution_code)
    ctx.require_institution(institution.id)
    found = _locked_round(ctx, round_name)
    participant = _participant(ctx.db, found, institution)
    lines, low, high = ctx.db.execute(
        select(func.count(), func.sum(DemandLine.min_qty), func.sum(DemandLine.max_qty)).where(
            DemandLine.round_id == found.id, DemandLine.institution_id == institution.id
        )
    ).one()
    if not lines:
        raise ValidationFailed(
            f"{institution.code} no tiene ninguna línea en la ronda «{found.name}»; no hay"
            " demanda que enviar.",
            expected="al menos una clave con cantidad mínima y máxima",
        )
    participant.submitted_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "demand.submit",
        f"round:{found.name}:{institution.code}",
        {
            "round": found.name,
            "institution": institution.code,
            "lines": lines,
            "min": int(low or 0),
            "max": int(high or 0),
        },
    )
    return participant


# ----- writing many lines at once ------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    new: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    lines: int = 0
    total: Pair = rules.ZERO

    def payload(self) -> dict[str, int]:
        return {
            "lines": self.lines,
            "new": self.new,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "min": self.total.min,
            "max": self.total.max,
        }


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A line a file asks for: its quantities, or None to remove it."""

    institution_id: int
    clave_id: int
    unit_code: str
    pair: Pair | None
    period: str = ""


@dataclass(slots=True)
class _Plan:
    """The statements that apply a file's lines, and per institution what they change."""

    counts: dict[int, _Counts]
    inserts: list[tuple[int, int, str, str, Pair]]
    """(institution id, clave id, unit code, period, quantities): a tuple is a tenth of the
    dict a statement takes, and a national appendix has tens of thousands."""
    updates: list[dict[str, Any]]
    removals: list[int]

    @property
    def removed(self) -> int:
        return len(self.removals)


def _plan_lines(
    ctx: Context,
    found: DemandRound,
    wanted: Sequence[_Wanted],
    *,
    replace: Iterable[int] = (),
    replace_units: Iterable[tuple[int, str]] = (),
) -> _Plan:
    """What applying the wanted lines would change, per institution; nothing is written.

    Institutions in ``replace`` lose their whole-institution lines that ``wanted`` does not
    name (an appendix states an institution's whole demand); so do the (institution, unit
    code) in ``replace_units`` at that unit. A line for one period replaces
    the same clave's line for the whole round, and the other way round: both at once would
    count the clave twice.
    """
    replaced_units = set(replace_units)
    institution_ids = (
        {w.institution_id for w in wanted} | set(replace) | {i for i, _ in replaced_units}
    )
    existing: dict[tuple[int, int, str, str], tuple[int, int, int, int]] = {}
    ids = sorted(institution_ids)
    for start in range(0, len(ids), _IN_BATCH):
        rows = ctx.db.execute(
            select(
                DemandLine.institution_id,
                DemandLine.clave_id,
                DemandLine.unit_code,
                DemandLine.period,
                DemandLine.id,
                DemandLine.min_qty,
                DemandLine.max_qty,
                DemandLine.version,
            ).where(
                DemandLine.round_id == found.id,
                DemandLine.institution_id.in_(ids[start : start + _IN_BATCH]),
            )
        )
        for institution_id, clave_id, unit, period, line_id, low, high, version in rows:
            existing[(institution_id, clave_id, unit, period)] = (line_id, low, high, version)
    plan = _Plan({i: _Counts() for i in institution_ids}, [], [], [])
    named: set[tuple[int, int, str, str]] = set()
    stated: dict[tuple[int, int, str], set[str]] = defaultdict(set)
    for want in wanted:
        key = (want.institution_id, want.clave_id, want.unit_code, want.period)
        named.add(key)
        count = plan.counts[want.institution_id]
        current = existing.get(key)
        if want.pair is None:
            if current is not None:
                plan.removals.append(current[0])
                count.removed += 1
            continue
        stated[key[:3]].add(want.period)
        count.lines += 1
        count.total += want.pair
        if current is None:
            plan.inserts.append(
                (want.institution_id, want.clave_id, want.unit_code, want.period, want.pair)
            )
            count.new += 1
        elif (current[1], current[2]) != (want.pair.min, want.pair.max):
            plan.updates.append(
                {
                    "b_id": current[0],
                    "b_min": want.pair.min,
                    "b_max": want.pair.max,
                    "b_version": current[3] + 1,
                    "b_at": ctx.now,
                }
            )
            count.updated += 1
        else:
            count.unchanged += 1
    replaced = set(replace)
    for key, current in existing.items():
        institution_id, clave_id, unit, period = key
        if key in named:
            continue
        periods = stated.get((institution_id, clave_id, unit))
        # Stated for the whole round, a clave loses its lines per period, and the other way.
        crossed = periods is not None and (period == "") != ("" in periods)
        if (
            crossed
            or (institution_id in replaced and not unit)
            or (institution_id, unit) in replaced_units
        ):
            plan.removals.append(current[0])
            plan.counts[institution_id].removed += 1
    return plan


def _apply(ctx: Context, found: DemandRound, plan: _Plan) -> dict[int, _Counts]:
    """Write a plan with bulk statements; per institution, what changed."""
    table = cast(Table, DemandLine.__table__)
    removals = plan.removals
    for start in range(0, len(removals), _IN_BATCH):
        ctx.db.execute(delete(table).where(table.c.id.in_(removals[start : start + _IN_BATCH])))
    if plan.updates:
        ctx.db.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                min_qty=bindparam("b_min"),
                max_qty=bindparam("b_max"),
                version=bindparam("b_version"),
                updated_at=bindparam("b_at"),
            ),
            plan.updates,
        )
    try:
        for start in range(0, len(plan.inserts), _INSERT_BATCH):
            rows = [
                {
                    "round_id": found.id,
                    "institution_id": institution_id,
                    "clave_id": clave_id,
                    "unit_code": unit_code,
                    "period": period,
                    "min_qty": pair.min,
                    "max_qty": pair.max,
                    "updated_at": ctx.now,
                    "version": 1,
                }
                for institution_id, clave_id, unit_code, period, pair in plan.inserts[
                    start : start + _INSERT_BATCH
                ]
            ]
            ctx.db.execute(insert(table), rows)
    except IntegrityError as exc:
        raise Conflict(
            f"Otra importación escribió líneas de la ronda «{found.name}» al mismo tiempo; "
            "no se importó nada. Vuelva a importar el archivo."
        ) from exc
    return plan.counts


REPLACE_EXPECTED = (
    "confirmar que el archivo es la demanda completa: vuelva a importarlo con --replace"
    " (en la página, marque «Reemplazar»; en la API, replace=true)"
)


def _guard_removals(plan: _Plan, codes: Mapping[int, str], subject: str, *, replace: bool) -> None:
    """Refuse an import that would remove lines unless the caller said to replace them.

    A file that lost its rows (a header saved alone, a filter left on) would otherwise take
    every line of the institutions it names with it.
    """
    if replace or not plan.removals:
        return
    by_institution = sorted(
        (codes[i], count.removed) for i, count in plan.counts.items() if count.removed
    )
    raise ValidationFailed(
        f"{subject} quitaría "
        f"{count_of(plan.removed, 'línea ya capturada', 'líneas ya capturadas')}; "
        "no se importó nada.",
        problems=[
            Problem(
                f"se quitarían {_lines(removed)} de {code}",
                field="replace",
                value=f"{removed:,}",
                expected=REPLACE_EXPECTED,
            )
            for code, removed in by_institution
        ],
    )


def _mark_submitted(
    ctx: Context, found: DemandRound, institution_ids: Iterable[int], *, submitted: bool
) -> list[int]:
    """Record the change (and the submission) of these institutions; join those not in the
    round yet, and return their ids."""
    ids = set(institution_ids)
    participants = {
        p.institution_id: p
        for p in ctx.db.scalars(
            select(RoundInstitution).where(RoundInstitution.round_id == found.id)
        )
    }
    joined = []
    for institution_id in sorted(ids):
        participant = participants.get(institution_id)
        if participant is None:
            participant = RoundInstitution(round_id=found.id, institution_id=institution_id)
            ctx.db.add(participant)
            joined.append(institution_id)
        participant.last_change_at = ctx.now
        if submitted:
            participant.submitted_at = ctx.now
    ctx.db.flush()
    return joined


def _clave_ids(db: Session) -> dict[str, int]:
    return dict(db.execute(select(Clave.clave, Clave.id)).all())


def _unknown_clave(
    clave: str,
    known: Mapping[str, int],
    suggestions: dict[str, str | None],
    *,
    sheet: str,
    row: int,
    column: str | None,
) -> Problem:
    if clave not in suggestions and len(suggestions) < _MAX_SUGGESTIONS:
        suggestions[clave] = suggest_clave(clave, known)
    suggestion = suggestions.get(clave)
    return Problem(
        "la clave no existe en el catálogo",
        sheet=sheet,
        row=row,
        column=column,
        value=clave,
        expected=f"una clave del catálogo; ¿quiso decir {suggestion}?"
        if suggestion
        else "una clave que exista en el catálogo (impórtela antes con «abasto catalog import»)",
    )


def _pair_problem(
    pair: Pair, share: Decimal, *, sheet: str, row: int, column: str
) -> Problem | None:
    for issue in rules.check_pair(pair.min, pair.max, share):
        return Problem(
            issue.message,
            sheet=sheet,
            row=row,
            column=column,
            value=issue.value,
            expected=issue.expected,
        )
    return None


def _period_problem(found: DemandRound, period: str, sheet: str | None) -> Problem:
    labels = ", ".join(p["label"] for p in found.periods)
    return Problem(
        f"la ronda «{found.name}» no incluye el periodo {period}",
        sheet=sheet,
        value=period,
        expected=f"cantidades de los periodos de la ronda ({labels}), o de la ronda entera sin"
        " año encima",
    )


def _refuse(problems: Sequence[Problem], subject: str, sheets: Sequence[str] = ()) -> None:
    """Raise every problem at once, in the file's order (sheet, then row)."""
    if not problems:
        return
    position = {name: i for i, name in enumerate(sheets)}
    ordered = sorted(problems, key=lambda p: (position.get(p.sheet or "", -1), p.row or 0))
    count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
    raise ValidationFailed(
        f"{subject} tiene {count}; no se importó ninguna cantidad.", problems=ordered
    )


def _lines(count: int) -> str:
    return f"{count:,} línea" + ("s" if count != 1 else "")


def _refuse_without_quantities(found: bool, filename: str) -> None:
    if not found:
        raise ValidationFailed(
            f"El archivo «{filename}» no tiene ninguna cantidad; no se importó nada",
            expected="debajo de los encabezados, una fila por clave con su cantidad mínima y"
            " máxima",
        )


def _read_appendix(
    content: bytes, filename: str, problems: list[Problem], progress: Progress | None
) -> tuple[appendix.AppendixSheet, ...]:
    """``appendix.read_appendix``, except that the problems of its cells are collected into
    ``problems`` rather than raised: they are reported together with those only the registry
    can tell (unknown institutions and claves, the round's minimum share). A file that is not
    an appendix at all still raises at once."""
    headers = find_headers(
        read_sheets(content, filename, progress=progress), appendix.APPENDIX_COLUMNS
    )
    return tuple(appendix._read_sheet(header, problems) for header in headers)


def _read_planner_sheet(
    content: bytes, filename: str, problems: list[Problem], skipped: list[Problem]
) -> tuple[list[appendix.PlannerRow], list[str]]:
    """``appendix.read_institution_sheet`` collecting its problems (see ``_read_appendix``)
    and what it skipped, and the names of the sheets read."""
    headers = find_headers(read_sheets(content, filename), appendix.PLANNER_COLUMNS)
    rows: list[appendix.PlannerRow] = []
    seen: dict[tuple[str, str, str], tuple[str, int]] = {}
    for header in headers:
        rows.extend(appendix._read_planner_sheet(header, problems, seen, skipped))
    return rows, [header.sheet.name for header in headers]


# ----- importing an appendix of many institutions ---------------------------------------------


def institution_names(db: Session) -> dict[str, Institution]:
    """Every name an institution goes by, folded (what files are matched on) → institution."""
    rows = db.execute(select(InstitutionAlias.folded, Institution).join(Institution.aliases))
    return {row[0]: row[1] for row in rows}


REGISTERED_KIND = "registrada desde un apéndice"
"""The kind of an institution ``--register-unknown`` adds: the buyer sets the real one later."""
_CODE_WIDTH, _UNIT_CODE_WIDTH = 40, 60
_NAME_MAX = 300
"""The longest name an institution, unit or alias keeps."""
_COORDINATOR_MIN_LETTERS = 3


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a column's quantities go: an institution as a whole, or one of its units."""

    institution: Institution
    unit_code: str = ""


@dataclass(slots=True)
class _Registry:
    """The registry as an appendix's names are matched against it (see ``_Target``)."""

    names: dict[str, Institution]
    """Folded name or alias → institution."""
    units: dict[str, tuple[Institution, str] | None]
    """Folded unit name → (institution, unit code); None when two units share the name."""
    unit_codes: dict[int, dict[str, str]]
    """Institution id → folded unit name or code → unit code."""

    def resolve(self, name: str) -> _Target | None:
        """An institution by its name or alias; a unit by its name, or by its institution's
        name followed by the unit's name or code («IMSS-BIENESTAR Oaxaca»)."""
        folded = fold(name)
        shared = self.shared.get(folded)
        if shared is not None:
            return shared
        institution = self.names.get(folded)
        if institution is not None:
            return _Target(institution)
        unit = self.units.get(folded)
        if unit is not None:
            return _Target(*unit)
        owner = rules.owner_by_prefix(folded, self.codes())
        if owner is not None:
            institution = self.by_code(owner[0])
            code = self.unit_codes.get(institution.id, {}).get(owner[1])
            if code is not None:
                return _Target(institution, code)
        return None

    def codes(self) -> dict[str, str]:
        return {folded: institution.code for folded, institution in self.names.items()}

    def by_code(self, code: str) -> Institution:
        return next(i for i in self.names.values() if i.code == code)

    written: dict[str, str] = field(default_factory=dict)
    """Folded name or alias → as written in the registry."""
    shared: dict[str, _Target] = field(default_factory=dict)
    """Folded name → the unit it stands for in this file although it is an alias of its
    institution (see ``_units_for_shared_names``)."""

    def candidates(self) -> list[tuple[str, str, str]]:
        """(folded name, code, name as written) of every name and alias, for suggestions."""
        return [
            (folded, institution.code, self.written.get(folded, institution.name))
            for folded, institution in self.names.items()
        ]

    def add_institution(self, institution: Institution) -> None:
        for alias in institution.aliases:
            self.names[alias.folded] = institution
            self.written[alias.folded] = alias.alias

    def add_unit(self, institution: Institution, code: str, name: str) -> None:
        folded = fold(name)
        self.units[folded] = None if folded in self.units else (institution, code)
        known = self.unit_codes.setdefault(institution.id, {})
        known.setdefault(folded, code)
        known.setdefault(fold(code), code)


def _registry(db: Session) -> _Registry:
    names = institution_names(db)
    units: dict[str, tuple[Institution, str] | None] = {}
    written = dict(db.execute(select(InstitutionAlias.folded, InstitutionAlias.alias)).all())
    registry = _Registry(names, units, {}, written)
    by_id = {institution.id: institution for institution in names.values()}
    for institution_id, code, name in db.execute(
        select(Unit.institution_id, Unit.code, Unit.name).order_by(Unit.id)
    ):
        registry.add_unit(by_id[institution_id], code, name)
    return registry


@dataclass(frozen=True, slots=True)
class NameSettled:
    """What ``--map-suggested`` or ``--register-unknown`` did with a name the registry lacked."""

    name: str
    """As the file writes it."""
    action: str
    """«mapped» (an alias of a registered institution), «unit» (a new unit of ``institution``)
    or «institution» (a new institution)."""
    institution: str
    unit: str = ""
    score: float | None = None
    """How alike the names were, for «mapped»."""
    coordinator: str | None = None
    """For a new institution named in a coordinator's detail sheet (CCINSHAE's hospitals)."""

    def said(self) -> str:
        """The sentence the CLI prints."""
        if self.action == "mapped":
            return (
                f"«{self.name}» se asoció a {self.institution} (nombres {self.score:.0%} iguales)."
            )
        if self.action == "unit":
            return f"«{self.name}» se registró como la unidad {self.unit} de {self.institution}."
        coordinated = f", coordinada por {self.coordinator}" if self.coordinator else ""
        return f"«{self.name}» se registró como la institución {self.institution}{coordinated}."

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "institution": self.institution,
            "unit": self.unit or None,
            "coordinator": self.coordinator,
        }


def _sheet_coordinator(
    sheet: appendix.AppendixSheet, registry: _Registry, own: set[int]
) -> Institution | None:
    """The institution a detail sheet is about («1.1 Detalle CCINSHAE»): the one registered
    institution its name names that is not one of its own columns; None if none or several."""
    words = f" {fold(sheet.name)} "
    found = {
        institution.id: institution
        for folded, institution in registry.names.items()
        if len(folded.replace(" ", "")) >= _COORDINATOR_MIN_LETTERS
        and f" {folded} " in words
        and institution.id not in own
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _settle_unknown(
    ctx: Context,
    registry: _Registry,
    sheets: Sequence[appendix.AppendixSheet],
    unknown: Mapping[str, tuple[int, str]],
    *,
    map_suggested: bool,
    register_unknown: bool,
) -> list[NameSettled]:
    """Map the unknown names with a clear suggestion, then register the rest (see
    ``import_appendix``); ``unknown`` is folded name → (sheet index, name as written)."""
    settled: list[NameSettled] = []
    pending: list[tuple[int, str, str]] = []
    candidates = registry.candidates() if map_suggested else []
    for folded, (sheet_index, written) in unknown.items():
        if len(written) > _NAME_MAX:
            continue  # no registry name is that long: it stays unknown, and is reported
        choice = rules.clear_suggestion(rules.suggest_institutions(folded, candidates))
        if choice is None:
            pending.append((sheet_index, folded, written))
            continue
        alias = map_institution_name(ctx, name=written, institution_code=choice.code)
        registry.names[folded] = registry.by_code(choice.code)
        registry.written[folded] = alias.alias
        settled.append(NameSettled(written, "mapped", choice.code, score=choice.score))
    if not register_unknown:
        return settled
    # Sheet by sheet, shorter names first: "IMSS-BIENESTAR" is registered before
    # "IMSS-BIENESTAR Oaxaca" becomes its unit, and CCINSHAE before its detail sheet.
    for sheet_index, folded, written in sorted(pending, key=lambda p: (p[0], len(p[1].split()))):
        owner = rules.owner_by_prefix(folded, registry.codes())
        if owner is not None:
            institution = registry.by_code(owner[0])
            state = parse_state(owner[1])
            unit_codes = registry.unit_codes.get(institution.id, {}).values()
            code = rules.new_code(owner[1], unit_codes, width=_UNIT_CODE_WIDTH)
            kind = "entidad" if state else "unidad"
            add_unit(
                ctx,
                institution_code=institution.code,
                unit=UnitSpec(code=code, name=written, kind=kind, state_code=state),
            )
            registry.add_unit(institution, code, written)
            settled.append(NameSettled(written, "unit", institution.code, unit=code))
            continue
        sheet = sheets[sheet_index]
        own = {
            target.institution.id
            for columns in sheet.institutions
            if (target := registry.resolve(columns.name)) is not None
        }
        coordinator = _sheet_coordinator(sheet, registry, own)
        taken = {i.code for i in registry.names.values()}
        taken |= {name.upper().replace(" ", "-") for name in registry.names}
        code = rules.new_code(written, taken, width=_CODE_WIDTH)
        institution = register_institution(
            ctx,
            code=code,
            name=written,
            kind=REGISTERED_KIND,
            coordinator_code=coordinator.code if coordinator else None,
        )
        registry.add_institution(institution)
        settled.append(
            NameSettled(
                written,
                "institution",
                institution.code,
                coordinator=coordinator.code if coordinator else None,
            )
        )
    position = {folded: n for n, folded in enumerate(unknown)}
    return sorted(settled, key=lambda item: position[fold(item.name)])


def _units_for_shared_names(
    ctx: Context,
    registry: _Registry,
    sheets: Sequence[appendix.AppendixSheet],
    *,
    register: bool,
) -> list[NameSettled]:
    """Columns with different names that are all one institution as a whole (aliases of it,
    such as state entities once mapped to IMSS-Bienestar): the shortest name stays the
    institution as a whole, and each name that begins with another of its names
    («IMSS-BIENESTAR Oaxaca») is its unit — the unit of that name, or one registered when
    ``register`` (its code from what follows). Two names of the whole institution (IMSS and
    its official name) are the same column twice, which the import reports."""
    by_institution: dict[int, dict[str, str]] = {}
    for sheet in sheets:
        for columns in sheet.institutions:
            target = registry.resolve(columns.name)
            if target is not None and not target.unit_code:
                names = by_institution.setdefault(target.institution.id, {})
                names.setdefault(fold(columns.name), columns.name)
    settled: list[NameSettled] = []
    codes = registry.codes()
    for names in by_institution.values():
        if len(names) < 2:
            continue
        whole = min(names, key=lambda folded: (len(folded), folded))
        institution = registry.names[whole]
        own = {n: c for n, c in codes.items() if c == institution.code}
        for folded, written in names.items():
            if folded == whole:
                continue
            owner = rules.owner_by_prefix(folded, {n: c for n, c in own.items() if n != folded})
            if owner is None:
                continue  # another name of the whole institution: the same column twice
            rest = owner[1]
            known = registry.unit_codes.get(institution.id, {})
            code = known.get(rest) or known.get(folded)
            if code is None and register:
                code = rules.new_code(rest, known.values(), width=_UNIT_CODE_WIDTH)
                state = parse_state(rest)
                add_unit(
                    ctx,
                    institution_code=institution.code,
                    unit=UnitSpec(
                        code=code,
                        name=written,
                        kind="entidad" if state else "unidad",
                        state_code=state,
                    ),
                )
                registry.add_unit(institution, code, written)
                settled.append(NameSettled(written, "unit", institution.code, unit=code))
            if code is not None:
                registry.shared[folded] = _Target(institution, code)
    return settled


@dataclass(frozen=True, slots=True)
class InstitutionImport:
    code: str
    name: str
    named_in_file: tuple[str, ...]
    lines: int
    new: int
    updated: int
    removed: int
    unchanged: int
    total: Pair


@dataclass(frozen=True, slots=True)
class ObservationView:
    """An observation as pages, the API and the CLI show it."""

    id: int
    institution: str
    unit: str
    clave: str
    period: str
    min_qty: int
    max_qty: int
    expected_min: int
    sheet: str
    row: int
    column: str
    status: str
    """«pendiente», «corregida» (its line now meets the rule, or is gone) or «aceptada»."""
    reason: str | None
    version: int

    @property
    def what(self) -> str:
        return f"mínimo {self.min_qty:,} menor que {self.expected_min:,} (máximo {self.max_qty:,})"

    @property
    def where(self) -> str:
        return f"hoja «{self.sheet}», fila {self.row}, {self.column}"

    @property
    def pending(self) -> bool:
        return self.status == PENDING


PENDING, CORRECTED, ACCEPTED = "pendiente", "corregida", "aceptada"


@dataclass(frozen=True, slots=True)
class AppendixImportSummary:
    round: str
    filename: str
    sha256: str
    sheets: tuple[str, ...]
    institutions: tuple[InstitutionImport, ...]
    joined: tuple[str, ...]
    """Institutions the file named that were not in the round yet, and now are."""
    skipped: tuple[Problem, ...] = ()
    """What the reader did not read as demand: blank rows, notes, totals, other columns."""
    settled: tuple[NameSettled, ...] = ()
    """Names the registry lacked, mapped or registered by this import."""
    observations: int = 0
    """Lines imported below the round's minimum share, flagged (see ``round_observations``)."""

    @property
    def lines(self) -> int:
        return sum(i.lines for i in self.institutions)

    @property
    def new(self) -> int:
        return sum(i.new for i in self.institutions)

    @property
    def updated(self) -> int:
        return sum(i.updated for i in self.institutions)

    @property
    def removed(self) -> int:
        return sum(i.removed for i in self.institutions)

    @property
    def unchanged(self) -> int:
        return sum(i.unchanged for i in self.institutions)


UNKNOWN_INSTITUTION_EXPECTED = (
    "el nombre de una institución registrada; si es otro nombre de una registrada, asócielo con"
    ' «abasto demand map-name "{name}" --institution CLAVE» y vuelva a importar, o importe con'
    " --map-suggested (acepta la sugerencia clara) y --register-unknown (registra el resto)"
)


def _unknown_problem(
    sheet: str, columns: appendix.InstitutionColumns, suggestions: list[rules.Suggestion]
) -> Problem:
    hint = ""
    if suggestions:
        hint = "; los más parecidos: " + ", ".join(s.shown() for s in suggestions)
    return Problem(
        "la institución no está registrada" + hint,
        sheet=sheet,
        column=columns.min_column,
        value=columns.name,
        expected=UNKNOWN_INSTITUTION_EXPECTED.format(name=columns.name),
    )


@dataclass(frozen=True, slots=True)
class _Observed:
    """A line below the minimum share, as the import found it."""

    institution_id: int
    clave_id: int
    unit_code: str
    pair: Pair
    expected_min: int
    sheet: str
    row: int
    column: str
    period: str = ""


def import_appendix(
    ctx: Context,
    *,
    round_name: str,
    content: bytes,
    filename: str,
    progress: Progress | None = None,
    replace: bool = False,
    map_suggested: bool = False,
    register_unknown: bool = False,
) -> AppendixImportSummary:
    """Import an appendix with many institutions into the round; all or nothing.

    Each column is matched by its name (folded) to the registry: an institution's name or
    alias (the institution as a whole), a unit's name, or an institution's name followed by
    one of its units' («IMSS-BIENESTAR Oaxaca»): several columns of one institution are its
    lines per unit. An unknown name is reported with the registry's three closest names;
    ``map_suggested`` takes the closest as an alias when it is a clear best
    (``rules.clear_suggestion``), and ``register_unknown`` registers the rest: as a unit of the
    institution whose name begins the column's (a state entity, with its state), otherwise
    as an institution (coordinated by the institution a detail sheet is named after). What
    they did is in ``settled`` and on the ledger.

    Each target named in the file gets exactly the file's lines (lines of claves the file
    leaves blank or 0/0 are removed; an institution's lines of units the file does not name
    are kept) and counts as submitted; one not yet in the round joins it. A line whose
    minimum is below the round's share of its maximum is imported as the file states it and
    flagged as an observation, which freezing the round needs corrected or accepted. Every
    problem of the file is reported at once: unknown claves (with the closest one), a clave
    twice for one institution and unit. A file without a single quantity is refused, and one
    that would remove lines is refused unless ``replace`` (the count is in the error). The
    ledger gets one ``demand.import`` entry, one ``demand.lines`` per institution and one
    ``demand.observations`` when there are observations.
    """
    _require_open(get_round(ctx.db, round_name))
    problems: list[Problem] = []
    sheets = _read_appendix(content, filename, problems, progress)
    found = get_round(ctx.db, round_name)
    registry = _registry(ctx.db)
    known = _clave_ids(ctx.db)
    suggestions: dict[str, str | None] = {}
    unknown: dict[str, tuple[int, str]] = {}
    for index, sheet in enumerate(sheets):
        for columns in sheet.institutions:
            if registry.resolve(columns.name) is None:
                unknown.setdefault(fold(columns.name), (index, columns.name))
    settled: list[NameSettled] = []
    if unknown and (map_suggested or register_unknown):
        settled = _settle_unknown(
            ctx,
            registry,
            sheets,
            unknown,
            map_suggested=map_suggested,
            register_unknown=register_unknown,
        )
    settled += _units_for_shared_names(ctx, registry, sheets, register=register_unknown)
    candidates: list[tuple[str, str, str]] | None = None
    resolved: dict[tuple[str, str], _Target] = {}
    for sheet in sheets:
        for columns in sheet.institutions:
            target = registry.resolve(columns.name)
            if target is not None:
                resolved[(sheet.name, columns.name)] = target
                continue
            if candidates is None:
                candidates = registry.candidates()
            close = rules.suggest_institutions(fold(columns.name), candidates)
            problems.append(_unknown_problem(sheet.name, columns, close))
    labels = [period["label"] for period in found.periods]
    for sheet in sheets:
        for period in dict.fromkeys(c.period for c in sheet.institutions if c.period):
            if period not in labels:
                problems.append(_period_problem(found, period, sheet.name))
    wanted: list[_Wanted] = []
    observed: list[_Observed] = []
    seen: dict[tuple[int, str, str, str], tuple[str, int, str]] = {}
    share = found.min_share
    for sheet in sheets:
        for row in sheet.rows:
            clave_id = known.get(row.clave)
            if clave_id is None:
                problems.append(
                    _unknown_clave(
                        row.clave,
                        known,
                        suggestions,
                        sheet=sheet.name,
                        row=row.row,
                        column=sheet.clave_column,
                    )
                )
                continue
            for key, (low, high) in row.quantities.items():
                columns = sheet.institution(key)
                name, period = columns.name, columns.period
                target = resolved.get((sheet.name, name))
                if target is None or (period and period not in labels):
                    continue
                institution = target.institution
                if high > rules.MAX_QUANTITY:
                    problem = _pair_problem(
                        Pair(low, high),
                        share,
                        sheet=sheet.name,
                        row=row.row,
                        column=columns.max_column,
                    )
                    if problem is not None:
                        problems.append(problem)
                    continue
                first = seen.setdefault(
                    (institution.id, target.unit_code, row.clave, period),
                    (sheet.name, row.row, name),
                )
                if first != (sheet.name, row.row, name):
                    where = f"la fila {first[1]}" + (
                        f" de la hoja «{first[0]}»" if first[0] != sheet.name else ""
                    )
                    who = institution.code + (
                        f", unidad {target.unit_code}" if target.unit_code else ""
                    )
                    problems.append(
                        Problem(
                            f"dos columnas son la misma institución y unidad ({who}): «{first[2]}»"
                            f" en {where} y esta",
                            sheet=sheet.name,
                            row=row.row,
                            column=columns.min_column,
                            value=row.clave,
                            expected="una columna por institución y unidad: con"
                            " --register-unknown, cada nombre distinto de una institución es una"
                            " unidad suya; si es el mismo, quite una de las columnas",
                        )
                    )
                    continue
                pair = Pair(low, high)
                least = rules.minimum_for(high, share)
                if low < least:
                    observed.append(
                        _Observed(
                            institution.id,
                            clave_id,
                            target.unit_code,
                            pair,
                            least,
                            sheet.name,
                            row.row,
                            columns.min_column,
                            period,
                        )
                    )
                wanted.append(_Wanted(institution.id, clave_id, target.unit_code, pair, period))
    _refuse(problems, f"El apéndice «{filename}»", [sheet.name for sheet in sheets])
    _refuse_without_quantities(any(row.quantities for s in sheets for row in s.rows), filename)
    found = _locked_round(ctx, round_name)
    institutions = {t.institution.id: t.institution for t in resolved.values()}
    whole = {t.institution.id for t in resolved.values() if not t.unit_code}
    units = {(t.institution.id, t.unit_code) for t in resolved.values() if t.unit_code}
    plan = _plan_lines(ctx, found, wanted, replace=whole, replace_units=units)
    codes = {i: institution.code for i, institution in institutions.items()}
    _guard_removals(plan, codes, f"El apéndice «{filename}»", replace=replace)
    counts = _apply(ctx, found, plan)
    joined = _mark_submitted(ctx, found, institutions, submitted=True)
    _keep_consolidated(ctx.db, found)
    sha256 = hashlib.sha256(content).hexdigest()
    _store_observations(ctx, found, observed, whole, units, source=sha256)
    named_as: dict[int, list[str]] = defaultdict(list)
    for (_, name), target in resolved.items():
        if name not in named_as[target.institution.id]:
            named_as[target.institution.id].append(name)
    summary = AppendixImportSummary(
        round=found.name,
        filename=filename,
        sha256=sha256,
        sheets=tuple(sheet.name for sheet in sheets),
        institutions=tuple(
            InstitutionImport(
                code=institutions[i].code,
                name=institutions[i].name,
                named_in_file=tuple(named_as[i]),
                lines=counts[i].lines,
                new=counts[i].new,
                updated=counts[i].updated,
                removed=counts[i].removed,
                unchanged=counts[i].unchanged,
                total=counts[i].total,
            )
            for i in sorted(institutions, key=lambda i: institutions[i].code)
        ),
        joined=tuple(sorted(institutions[i].code for i in joined)),
        skipped=tuple(note for sheet in sheets for note in sheet.skipped),
        settled=tuple(settled),
        observations=len(observed),
    )
    total = sum((i.total for i in summary.institutions), rules.ZERO)
    by_code = {
        institution.code: institution_id for institution_id, institution in institutions.items()
    }
    clave_of = {clave_id: clave for clave, clave_id in known.items()} if observed else {}
    records = [
        Record(
            "demand.import",
            f"round:{found.name}",
            {
                "round": found.name,
                "filename": filename,
                "sha256": summary.sha256,
                "sheets": [
                    {"name": s.name, "rows": len(s.rows), "institutions": len(s.institutions)}
                    for s in sheets
                ],
                "institutions": len(summary.institutions),
                "joined": list(summary.joined),
                "names": [item.payload() for item in settled],
                "skipped": len(summary.skipped),
                "lines": summary.lines,
                "new": summary.new,
                "updated": summary.updated,
                "removed": summary.removed,
                "unchanged": summary.unchanged,
                "observations": len(observed),
                "min": total.min,
                "max": total.max,
            },
        ),
        *(
            Record(
                "demand.lines",
                f"round:{found.name}:{i.code}",
                {
                    "round": found.name,
                    "institution": i.code,
                    "named_in_file": list(i.named_in_file),
                    "source": summary.sha256,
                    **counts[institution_id].payload(),
                },
            )
            for institution_id, i in ((by_code[i.code], i) for i in summary.institutions)
        ),
    ]
    if observed:
        records.append(
            Record(
                "demand.observations",
                f"round:{found.name}",
                {
                    "round": found.name,
                    "source": summary.sha256,
                    "share": found.min_share,
                    "observations": [
                        {
                            "institution": codes[o.institution_id],
                            "unit": o.unit_code or None,
                            "clave": clave_of[o.clave_id],
                            "period": o.period or None,
                            "min": o.pair.min,
                            "max": o.pair.max,
                            "expected_min": o.expected_min,
                            "sheet": o.sheet,
                            "row": o.row,
                        }
                        for o in observed
                    ],
                },
            )
        )
    ctx.record_many(records)
    return summary


# ----- observations: lines kept as the file states them, below the minimum share -------------


def _store_observations(
    ctx: Context,
    found: DemandRound,
    observed: Sequence[_Observed],
    whole: set[int],
    units: set[tuple[int, str]],
    *,
    source: str,
) -> None:
    """Replace the observations of the levels the file states with the file's; one accepted
    earlier stays accepted when the file states the same quantities again."""
    table = cast(Table, DemandObservation.__table__)
    earlier = {
        (o.institution_id, o.clave_id, o.unit_code, o.period): o
        for o in ctx.db.scalars(
            select(DemandObservation).where(DemandObservation.round_id == found.id)
        )
        if (o.institution_id in whole and not o.unit_code)
        or (o.institution_id, o.unit_code) in units
    }
    gone = [o.id for o in earlier.values()]
    for start in range(0, len(gone), _IN_BATCH):
        ctx.db.execute(delete(table).where(table.c.id.in_(gone[start : start + _IN_BATCH])))
    rows = []
    for o in observed:
        before = earlier.get((o.institution_id, o.clave_id, o.unit_code, o.period))
        if before is not None and (
            before.status != ACCEPTED_STATUS
            or (before.min_qty, before.max_qty) != (o.pair.min, o.pair.max)
        ):
            before = None
        rows.append(
            {
                "round_id": found.id,
                "institution_id": o.institution_id,
                "clave_id": o.clave_id,
                "unit_code": o.unit_code,
                "period": o.period,
                "min_qty": o.pair.min,
                "max_qty": o.pair.max,
                "expected_min": o.expected_min,
                "sheet": o.sheet[:100],
                "row": o.row,
                "column": o.column[:400],
                "source": source,
                "status": OPEN_STATUS if before is None else ACCEPTED_STATUS,
                "reason": None if before is None else before.reason,
                "decided_by": None if before is None else before.decided_by,
                "decided_at": None if before is None else before.decided_at,
                "created_at": ctx.now,
                "version": 1,
            }
        )
    if rows:
        ctx.db.execute(insert(table), rows)


OPEN_STATUS, ACCEPTED_STATUS = "open", "accepted"


def round_observations(db: Session, *, round_name: str) -> list[ObservationView]:
    """The round's observations in file order, each with where it stands: pending, corrected
    (its line now meets the round's share, or is gone) or accepted with a reason."""
    found = get_round(db, round_name)
    rows = db.execute(
        select(DemandObservation, Institution.code, Clave.clave)
        .add_columns(DemandLine.min_qty, DemandLine.max_qty)
        .join(Institution, Institution.id == DemandObservation.institution_id)
        .join(Clave, Clave.id == DemandObservation.clave_id)
        .outerjoin(
            DemandLine,
            and_(
                DemandLine.round_id == DemandObservation.round_id,
                DemandLine.institution_id == DemandObservation.institution_id,
                DemandLine.clave_id == DemandObservation.clave_id,
                DemandLine.unit_code == DemandObservation.unit_code,
                DemandLine.period == DemandObservation.period,
            ),
        )
        .where(DemandObservation.round_id == found.id)
        .order_by(DemandObservation.sheet, DemandObservation.row, DemandObservation.id)
    )
    views = []
    for observation, code, clave, low, high in rows:
        if observation.status == ACCEPTED_STATUS:
            status = ACCEPTED
        elif low is None or low >= rules.minimum_for(high, found.min_share):
            status = CORRECTED
        else:
            status = PENDING
        views.append(
            ObservationView(
                id=observation.id,
                institution=code,
                unit=observation.unit_code,
                clave=clave,
                period=observation.period,
                min_qty=observation.min_qty,
                max_qty=observation.max_qty,
                expected_min=observation.expected_min,
                sheet=observation.sheet,
                row=observation.row,
                column=observation.column,
                status=status,
                reason=observation.reason,
                version=observation.version,
            )
        )
    return views


def visible_observations(ctx: Context, *, round_name: str) -> list[ObservationView]:
    """``round_observations`` as the actor may see them: a planner, its own institution's."""
    views = round_observations(ctx.db, round_name=round_name)
    if ctx.actor.has_role("comprador", "auditor") or ctx.actor.institution_id is None:
        return views
    own = ctx.db.get(Institution, ctx.actor.institution_id)
    return [view for view in views if own is not None and view.institution == own.code]


def accept_observation(
    ctx: Context,
    *,
    round_name: str,
    observation_id: int,
    reason: str,
    version: int | None = None,
) -> ObservationView:
    """Accept a line below the minimum share as the file states it; the reason is required
    and goes on the ledger."""
    reason = _reason(
        reason, "No se aceptó la observación", "Indique por qué se acepta el mínimo del archivo."
    )
    found = _locked_round(ctx, round_name)
    observation = ctx.db.get(DemandObservation, observation_id)
    if observation is None or observation.round_id != found.id:
        raise NotFound(f"La ronda «{found.name}» no tiene la observación {observation_id}.")
    check_version(f"La observación {observation_id}", version, observation.version)
    if observation.status == ACCEPTED_STATUS:
        raise Conflict(f"La observación {observation_id} ya está aceptada.")
    observation.status = ACCEPTED_STATUS
    observation.reason = reason
    observation.decided_by = ctx.actor.label
    observation.decided_at = ctx.now
    try:
        ctx.db.flush()
    except StaleDataError:
        raise Conflict(
            f"La observación {observation_id} cambió mientras se aceptaba; no se guardó nada."
        ) from None
    view = next(
        v for v in round_observations(ctx.db, round_name=found.name) if v.id == observation.id
    )
    ctx.record(
        "demand.observation.accept",
        f"round:{found.name}",
        {
            "round": found.name,
            "observation": observation.id,
            "institution": view.institution,
            "unit": view.unit or None,
            "clave": view.clave,
            "period": view.period or None,
            "min": view.min_qty,
            "max": view.max_qty,
            "expected_min": view.expected_min,
            "reason": reason,
        },
    )
    return view


OBSERVATIONS_EXPECTED = (
    "cada observación corregida (el mínimo de la línea cumple la proporción) o aceptada con un"
    " motivo: «abasto demand accept ID --round NOMBRE --reason …» o en la página de la ronda"
)


def _refuse_pending_observations(db: Session, found: DemandRound) -> None:
    pending = [v for v in round_observations(db, round_name=found.name) if v.pending]
    if not pending:
        return
    counted = (
        "1 observación pendiente"
        if len(pending) == 1
        else f"{len(pending)} observaciones pendientes"
    )
    raise Conflict(
        f"La ronda «{found.name}» tiene {counted}; no se congeló.",
        problems=[
            Problem(
                f"observación {v.id}: {v.institution}"
                + (f"/{v.unit}" if v.unit else "")
                + f", clave {v.clave}: {v.what}",
                sheet=v.sheet,
                row=v.row,
                column=v.column,
                value=f"{v.min_qty:,}",
                expected=OBSERVATIONS_EXPECTED,
            )
            for v in pending
        ],
    )


def map_institution_name(ctx: Context, *, name: str, institution_code: str) -> InstitutionAlias:
    """Let files name an institution this way too: an alias in the registry, on the ledger."""
    shown = " ".join(name.split())
    folded = fold(shown)
    institution = get_institution(ctx.db, institution_code)
    if not folded or len(shown) > _NAME_MAX:
        raise ValidationFailed(
            "El nombre no es válido.",
            problems=[
                Problem(
                    "El nombre está vacío o es demasiado largo.",
                    field="name",
                    value=shown[:60],
                    expected="el nombre tal como aparece en el archivo, hasta 300 caracteres",
                )
            ],
        )
    taken = ctx.db.scalar(select(InstitutionAlias).where(InstitutionAlias.folded == folded))
    if taken is not None:
        if taken.institution_id == institution.id:
            return taken
        raise Conflict(
            f"«{shown}» ya identifica a {taken.institution.code}; no se asoció a "
            f"{institution.code}."
        )
    alias = InstitutionAlias(institution_id=institution.id, alias=shown, folded=folded)
    ctx.db.add(alias)
    try:
        ctx.db.flush()
    except IntegrityError as exc:
        raise Conflict(f"Otra solicitud registró el nombre «{shown}» al mismo tiempo.") from exc
    ctx.record(
        "institution.alias",
        f"institution:{institution.code}",
        {"institution": institution.code, "alias": shown},
    )
    return alias


# ----- an institution's sheet: download, fill offline, upload ---------------------------------


def institution_sheet(ctx: Context, *, round_name: str, institution_code: str) -> bytes:
    """The institution's sheet for the round: every clave of the catalog with its current
    quantities, then its lines per delivery point, and its own code for each clave if any."""
    institution = get_institution(ctx.db, institution_code)
    _require_reader(ctx, institution.id)
    found = get_round(ctx.db, round_name)
    codes: dict[int, str] = {}
    for clave_id, code in ctx.db.execute(
        select(Homologation.clave_id, Homologation.institution_code)
        .where(Homologation.institution_id == institution.id)
        .order_by(Homologation.institution_code)
    ):
        codes.setdefault(clave_id, code)
    lines: dict[tuple[int, str], tuple[int, int]] = {
        (clave_id, unit): (low, high)
        for clave_id, unit, low, high in ctx.db.execute(
            select(
                DemandLine.clave_id, DemandLine.unit_code, DemandLine.min_qty, DemandLine.max_qty
            ).where(
                DemandLine.round_id == found.id,
                DemandLine.institution_id == institution.id,
                DemandLine.period == "",
            )
        )
    }
    suggested = dict(
        ctx.db.execute(
            select(ForecastSuggestion.clave_id, ForecastSuggestion.suggested_max).where(
                ForecastSuggestion.round_id == found.id,
                ForecastSuggestion.institution_id == institution.id,
            )
        ).all()
    )
    rows: list[appendix.PlannerRow] = []
    per_unit: list[appendix.PlannerRow] = []
    for clave_id, clave, description in ctx.db.execute(
        select(Clave.id, Clave.clave, Clave.description).order_by(Clave.clave)
    ):
        low, high = lines.get((clave_id, ""), (None, None))
        rows.append(
            appendix.PlannerRow(
                "",
                0,
                clave,
                codes.get(clave_id),
                "",
                description,
                low,
                high,
                suggested_max=suggested.get(clave_id),
            )
        )
    names = dict(ctx.db.execute(select(Clave.id, Clave.clave)).all())
    descriptions = {row.clave: row.description for row in rows}
    for (clave_id, unit), (low, high) in sorted(
        lines.items(), key=lambda item: (item[0][1], names[item[0][0]])
    ):
        if unit:
            clave = names[clave_id]
            per_unit.append(
                appendix.PlannerRow(
                    "", 0, clave, codes.get(clave_id), unit, descriptions.get(clave), low, high
                )
            )
    return appendix.write_institution_sheet(
        round_name=found.name,
        institution=f"{institution.code} · {institution.name}",
        rows=[*rows, *per_unit],
    )


@dataclass(frozen=True, slots=True)
class SheetImportSummary:
    round: str
    institution: str
    filename: str
    sha256: str
    lines: int
    new: int
    updated: int
    removed: int
    unchanged: int
    total: Pair
    translated: int
    """Lines identified by the institution's own code, translated to their clave."""
    periods: tuple[str, ...] = ()
    """The periods the file gave quantities for ("" for the whole round), in file order."""
    skipped: tuple[Problem, ...] = ()
    """What the reader did not read: blank rows, notes, totals, columns not understood."""


def import_institution_sheet(
    ctx: Context,
    *,
    round_name: str,
    institution_code: str,
    content: bytes,
    filename: str,
    replace: bool = False,
) -> SheetImportSummary:
    """Import an institution's filled sheet; all or nothing, every problem at once.

    A line may name the clave or the institution's own code, translated through its
    homologation table (a code without one is reported, not dropped). Lines with quantities
    are set, lines with both emptied are removed, claves not in the file are left as they
    are; the institution counts as submitted. Emptied lines are removed only with ``replace``
    (otherwise the error says how many would go); a file without a single line is refused.
    """
    institution = get_institution(ctx.db, institution_code)
    ctx.require_institution(institution.id)
    _require_open(get_round(ctx.db, round_name))
    found = get_round(ctx.db, round_name)
    _participant(ctx.db, found, institution)
    problems: list[Problem] = []
    skipped: list[Problem] = []
    rows, sheet_names = _read_planner_sheet(content, filename, problems, skipped)
    if not problems:
        _refuse_without_quantities(bool(rows), filename)
    labels = [period["label"] for period in found.periods]
    periods = list(dict.fromkeys(row.period for row in rows))
    for period in periods:
        if period and period not in labels:
            problems.append(
                _period_problem(found, period, sheet_names[0] if len(sheet_names) == 1 else None)
            )
    known = _clave_ids(ctx.db)
    codes = [row.institution_code for row in rows if row.institution_code]
    mapping, _ = translate_codes(ctx.db, institution_id=institution.id, codes=codes)
    units = set(
        ctx.db.scalars(select(Unit.code).where(Unit.institution_id == institution.id)).all()
    )
    suggestions: dict[str, str | None] = {}
    wanted: list[_Wanted] = []
    seen: dict[tuple[str, str, str], int] = {}
    translated: set[tuple[str, int]] = set()
    for row in rows:
        if row.period and row.period not in labels:
            continue
        before = len(problems)
        clave = row.clave
        if row.institution_code:
            code = " ".join(row.institution_code.split())
            mapped = mapping.get(code)
            if mapped is None and clave is None:
                problems.append(
                    Problem(
                        "el código institucional no está homologado a ninguna clave",
                        sheet=row.sheet,
                        row=row.row,
                        column="Clave institucional",
                        value=code,
                        expected=f"un código de la tabla de homologación de {institution.code}"
                        " (impórtela con «abasto catalog homologate»), o la clave del Compendio",
                    )
                )
            elif mapped is not None and clave is not None and mapped != clave:
                problems.append(
                    Problem(
                        f"el código institucional {code} está homologado a la clave {mapped},"
                        f" no a {clave}",
                        sheet=row.sheet,
                        row=row.row,
                        column="Clave institucional",
                        value=code,
                        expected="la clave y el código institucional del mismo insumo",
                    )
                )
            elif clave is None:
                clave = mapped
                translated.add((row.sheet, row.row))
        if row.unit_code and row.unit_code not in units:
            problems.append(
                Problem(
                    f"{institution.code} no tiene la unidad «{row.unit_code}»",
                    sheet=row.sheet,
                    row=row.row,
                    column="Unidad",
                    value=row.unit_code,
                    expected=f"la clave de una unidad de {institution.code}, o vacío para toda"
                    " la institución",
                )
            )
        if clave is None or len(problems) > before:
            continue
        clave_id = known.get(clave)
        if clave_id is None:
            problems.append(
                _unknown_clave(
                    clave, known, suggestions, sheet=row.sheet, row=row.row, column="Clave"
                )
            )
            continue
        first = seen.setdefault((clave, row.unit_code, row.period), row.row)
        if first != row.row:
            problems.append(
                Problem(
                    f"la clave {clave} ya aparece en la fila {first} (aquí por su código"
                    " institucional)",
                    sheet=row.sheet,
                    row=row.row,
                    column="Clave institucional",
                    value=row.institution_code,
                    expected="cada clave una sola vez por unidad",
                )
            )
            continue
        pair = None
        if row.min_qty is not None and row.max_qty is not None:
            pair = Pair(row.min_qty, row.max_qty)
            problem = _pair_problem(
                pair,
                found.min_share,
                sheet=row.sheet,
                row=row.row,
                column=f"Cantidad mínima {row.period}".strip(),
            )
            if problem is not None:
                problems.append(problem)
                continue
        wanted.append(_Wanted(institution.id, clave_id, row.unit_code, pair, row.period))
    # A row read once per period repeats the problems of its clave, code and unit.
    _refuse(list(dict.fromkeys(problems)), f"El archivo «{filename}»", sheet_names)
    found = _locked_round(ctx, round_name)
    plan = _plan_lines(ctx, found, wanted)
    _guard_removals(
        plan, {institution.id: institution.code}, f"El archivo «{filename}»", replace=replace
    )
    counts = _apply(ctx, found, plan).get(institution.id, _Counts())
    _mark_submitted(ctx, found, [institution.id], submitted=True)
    _keep_consolidated(ctx.db, found)
    summary = SheetImportSummary(
        round=found.name,
        institution=institution.code,
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        lines=counts.lines,
        new=counts.new,
        updated=counts.updated,
        removed=counts.removed,
        unchanged=counts.unchanged,
        total=counts.total,
        translated=len(translated),
        periods=tuple(periods),
        skipped=tuple(skipped),
    )
    ctx.record(
        "demand.import",
        f"round:{found.name}:{institution.code}",
        {
            "round": found.name,
            "institution": institution.code,
            "filename": filename,
            "sha256": summary.sha256,
            "translated": len(translated),
            "periods": [period for period in periods if period],
            "skipped": len(skipped),
            **counts.payload(),
        },
    )
    return summary


# ----- consolidation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsolidatedLine:
    clave: str
    description: str
    unit: str | None
    total: Pair
    counted: dict[str, Pair]
    members: dict[str, dict[str, Pair]]


@dataclass(frozen=True, slots=True)
class Consolidation:
    """The round consolidated per clave (by clave), with the institutions in round order."""

    round: DemandRound
    institutions: dict[str, str]
    """Code → name of every institution with lines, in the round's order."""
    coordinators: dict[str, str]
    """Member code → coordinator code, for the institutions with lines."""
    lines: list[ConsolidatedLine]
    columns: dict[str, Pair]
    """Per institution, the sum of what it states (an appendix's totals row)."""
    total: Pair


@dataclass(frozen=True, slots=True)
class _Built:
    """A round's lines consolidated (every clave, or the ones asked for)."""

    ranked: list[Institution]
    """The institutions with lines in those claves, in the round's order."""
    coordinators: dict[str, str]
    claves: dict[str, rules.ConsolidatedClave]
    """Clave → its consolidation, by clave."""
    clave_rows: dict[str, tuple[int, str, str | None]]
    """Clave → (id, description, unit)."""


def _round_order(db: Session, found: DemandRound, institution_ids: Iterable[int]) -> list[int]:
    """The institutions in the round's order (those that joined it last, by id), so that every
    clave's breakdown lists them the same way whatever order the database grouped them in."""
    order = db.scalars(
        select(RoundInstitution.institution_id)
        .where(RoundInstitution.round_id == found.id)
        .order_by(RoundInstitution.id)
    ).all()
    rank = {institution_id: position for position, institution_id in enumerate(order)}
    return sorted(set(institution_ids), key=lambda i: (rank.get(i, len(rank)), i))


def _build(db: Session, found: DemandRound, clave_ids: Sequence[int] | None = None) -> _Built:
    """Per clave, the sum over institutions without counting a coordinator's members twice.

    The database adds up each institution's lines by level (``GROUP BY``); ``rules.consolidate``
    decides what counts (see its module).
    """
    scope: list[ColumnElement[bool]] = [DemandLine.round_id == found.id]
    if clave_ids is not None:
        scope.append(DemandLine.clave_id.in_(sorted(clave_ids)))
    whole = case((DemandLine.unit_code == "", 1), else_=0)
    rows = db.execute(
        select(
            DemandLine.clave_id,
            DemandLine.institution_id,
            whole,
            func.sum(DemandLine.min_qty),
            func.sum(DemandLine.max_qty),
        )
        .where(*scope)
        .group_by(DemandLine.clave_id, DemandLine.institution_id, whole)
    ).all()
    with_lines = {row[1] for row in rows}
    institutions = {
        i.id: i
        for i in db.scalars(select(Institution).where(Institution.id.in_(sorted(with_lines))))
    }
    wanted = {i.coordinator_id for i in institutions.values() if i.coordinator_id is not None}
    coordinator_codes: dict[int, str] = dict(
        db.execute(
            select(Institution.id, Institution.code).where(Institution.id.in_(sorted(wanted)))
        ).all()
    )
    clave_rows = {
        clave: (clave_id, description, unit)
        for clave_id, clave, description, unit in db.execute(
            select(Clave.id, Clave.clave, Clave.description, Clave.unit).where(
                Clave.id.in_(select(DemandLine.clave_id).where(*scope))
            )
        )
    }
    clave_code = {row[0]: clave for clave, row in clave_rows.items()}
    institution_code = {i.id: i.code for i in institutions.values()}
    levels: dict[tuple[int, int], list[Pair | None]] = {}
    for clave_id, institution_id, is_whole, low, high in rows:
        slot = levels.get((clave_id, institution_id))
        if slot is None:
            slot = levels[(clave_id, institution_id)] = [None, None]
        slot[0 if is_whole else 1] = Pair(int(low), int(high))
    ranked = _round_order(db, found, with_lines)
    position = {institution_id: n for n, institution_id in enumerate(ranked)}
    quantities = [
        rules.Quantity(clave_code[clave_id], institution_code[institution_id], whole, units)
        for (clave_id, institution_id), (whole, units) in sorted(
            levels.items(), key=lambda item: position[item[0][1]]
        )
    ]
    coordinators = {
        i.code: coordinator_codes[i.coordinator_id]
        for i in institutions.values()
        if i.coordinator_id is not None and i.coordinator_id in coordinator_codes
    }
    consolidated = rules.consolidate(quantities, coordinators)
    return _Built(
        ranked=[institutions[i] for i in ranked],
        coordinators=coordinators,
        claves=dict(sorted(consolidated.items())),
        clave_rows=clave_rows,
    )


def consolidate_round(db: Session, *, round_name: str) -> Consolidation:
    """The round consolidated from its lines, every clave (``_build``): what the exports and
    the tender read, and what the kept consolidation of the page must always equal."""
    found = get_round(db, round_name)
    built = _build(db, found)
    lines = [
        ConsolidatedLine(
            clave=clave,
            description=built.clave_rows[clave][1],
            unit=built.clave_rows[clave][2],
            total=item.total,
            counted=item.counted,
            members=item.members,
        )
        for clave, item in built.claves.items()
    ]
    columns, total = rules.column_totals(built.claves.values())
    return Consolidation(
        round=found,
        institutions={i.code: i.name for i in built.ranked},
        coordinators=built.coordinators,
        lines=lines,
        columns=columns,
        total=total,
    )


# The page reads the consolidation kept per round (``consolidated_demand``) instead of
# consolidating 150,000 lines on every view: each writer of a round's lines calls
# ``_keep_consolidated`` in its transaction, under the round's row lock (a line saved: only
# its clave; an import or freezing: the whole round), and a reader rebuilds it when it is
# missing (a round from before it was kept) or the registry changed what counts.


def _breakdown(item: rules.ConsolidatedClave) -> dict[str, Any]:
    return {
        "counted": [[code, p.min, p.max] for code, p in item.counted.items()],
        "members": {
            coordinator: [[code, p.min, p.max] for code, p in members.items()]
            for coordinator, members in item.members.items()
        },
    }


def _stated(breakdown: Mapping[str, Any]) -> Iterable[tuple[str, int, int]]:
    """Every institution's own quantity in a kept breakdown, counted or not."""
    for code, low, high in breakdown["counted"]:
        yield code, low, high
    for members in breakdown["members"].values():
        for code, low, high in members:
            yield code, low, high


def _registry_of(db: Session, institution_ids: Sequence[int]) -> list[list[Any]]:
    """``[id, code, coordinator_id]`` of these institutions, as a kept consolidation names them."""
    found = {
        row[0]: [row[0], row[1], row[2]]
        for row in db.execute(
            select(Institution.id, Institution.code, Institution.coordinator_id).where(
                Institution.id.in_(sorted(institution_ids))
            )
        )
    }
    return [found[i] for i in institution_ids if i in found]


def _still_current(db: Session, found: DemandRound, kept: ConsolidatedRound) -> bool:
    """Whether the registry and the round's order still say what they said when it was kept."""
    ids = [entry[0] for entry in kept.institutions]
    return _registry_of(db, _round_order(db, found, ids)) == kept.institutions


def _keep_consolidated(
    db: Session, found: DemandRound, clave_ids: Sequence[int] | None = None
) -> None:
    """Write the round's kept consolidation from its lines, in the caller's transaction.

    With ``clave_ids`` only those claves are consolidated again (a line saved), the
    institutions with lines and their totals adjusted; without them, or when what is kept
    is missing or no longer current, the whole round.
    """
    table = cast(Table, ConsolidatedDemand.__table__)
    kept = db.scalar(
        select(ConsolidatedRound)
        .where(ConsolidatedRound.round_id == found.id)
        .execution_options(populate_existing=True)
    )
    if clave_ids is not None and (kept is None or not _still_current(db, found, kept)):
        clave_ids = None
    built = _build(db, found, clave_ids)
    scope = [table.c.round_id == found.id]
    if clave_ids is not None:
        scope.append(table.c.clave_id.in_(sorted(clave_ids)))
    if kept is None or clave_ids is None:
        columns = {
            code: [pair.min, pair.max]
            for code, pair in rules.column_totals(built.claves.values())[0].items()
        }
        registry: list[list[Any]] = [[i.id, i.code, i.coordinator_id] for i in built.ranked]
    else:
        sums: dict[str, list[int]] = {code: list(pair) for code, pair in kept.columns.items()}
        for old in db.scalars(select(table.c.breakdown).where(*scope)):
            for code, low, high in _stated(old):
                column = sums.setdefault(code, [0, 0])
                column[0] -= low
                column[1] -= high
        for item in built.claves.values():
            for code, pair in item.stated().items():
                column = sums.setdefault(code, [0, 0])
                column[0] += pair.min
                column[1] += pair.max
        candidates = {entry[0] for entry in kept.institutions} | {i.id for i in built.ranked}
        with_lines = db.scalars(
            select(Institution.id).where(
                Institution.id.in_(sorted(candidates)),
                select(DemandLine.id)
                .where(DemandLine.round_id == found.id, DemandLine.institution_id == Institution.id)
                .exists(),
            )
        ).all()
        registry = _registry_of(db, _round_order(db, found, with_lines))
        columns = {entry[1]: sums.get(entry[1], [0, 0]) for entry in registry}
    db.execute(delete(table).where(*scope))
    rows = [
        {
            "round_id": found.id,
            "clave_id": built.clave_rows[clave][0],
            "clave": clave,
            "total_min": item.total.min,
            "total_max": item.total.max,
            "breakdown": _breakdown(item),
            "counted": len(item.counted),
        }
        for clave, item in built.claves.items()
    ]
    for start in range(0, len(rows), _INSERT_BATCH):
        db.execute(insert(table), rows[start : start + _INSERT_BATCH])
    if kept is None:
        db.add(ConsolidatedRound(round_id=found.id, institutions=registry, columns=columns))
    else:
        kept.institutions, kept.columns = registry, columns
    db.flush()


def _kept(db: Session, found: DemandRound) -> ConsolidatedRound:
    """The round's kept consolidation, built first when it is missing or no longer current."""
    kept = db.get(ConsolidatedRound, found.id)
    if kept is not None and _still_current(db, found, kept):
        return kept
    return _rebuild_on_read(db, found)


def _rebuild_on_read(db: Session, found: DemandRound) -> ConsolidatedRound:
    # Under the round's lock, as the writers, so that two first readers do not both write it.
    db.execute(select(DemandRound.id).where(DemandRound.id == found.id).with_for_update())
    _keep_consolidated(db, found)
    kept = db.get(ConsolidatedRound, found.id)
    assert kept is not None
    return kept


@dataclass(frozen=True, slots=True)
class ConsolidationSummary:
    """What the kept consolidation says of the whole round, without its claves."""

    round: DemandRound
    institutions: dict[str, str]
    """Code → name of every institution with lines, in the round's order."""
    coordinators: dict[str, str]
    """Member code → coordinator code, for the institutions with lines."""
    columns: dict[str, Pair]
    """Per institution, the sum of what it states (an appendix's totals row)."""
    claves: int
    total: Pair


def _summary(db: Session, found: DemandRound, kept: ConsolidatedRound) -> ConsolidationSummary:
    coordinator = aliased(Institution)
    named = {
        code: (name, coordinator_code)
        for code, name, coordinator_code in db.execute(
            select(Institution.code, Institution.name, coordinator.code)
            .outerjoin(coordinator, coordinator.id == Institution.coordinator_id)
            .where(Institution.id.in_([entry[0] for entry in kept.institutions]))
        )
    }
    table = ConsolidatedDemand
    claves, low, high = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(table.total_min), 0),
            func.coalesce(func.sum(table.total_max), 0),
        ).where(table.round_id == found.id)
    ).one()
    codes = [entry[1] for entry in kept.institutions]
    return ConsolidationSummary(
        round=found,
        institutions={code: named[code][0] for code in codes},
        coordinators={code: named[code][1] for code in codes if named[code][1] is not None},
        columns={code: Pair(*kept.columns[code]) for code in codes},
        claves=int(claves),
        total=Pair(int(low), int(high)),
    )


CONSOLIDATED_SORTS = ("clave", "total")


@dataclass(frozen=True, slots=True)
class ConsolidatedTotal:
    """A consolidated clave without its breakdown: what the page lists (the breakdown of
    each clave is read apart, ``consolidated_line``, when the buyer opens it)."""

    clave: str
    description: str
    unit: str | None
    total: Pair
    counted: int
    """How many institutions' quantities are in the total."""


Item = TypeVar("Item", ConsolidatedLine, ConsolidatedTotal)


@dataclass(frozen=True, slots=True)
class ConsolidatedPage(Generic[Item]):
    consolidation: ConsolidationSummary
    items: list[Item]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _kept_line(row: Any) -> ConsolidatedLine:
    clave, description, unit, low, high, breakdown = row
    return ConsolidatedLine(
        clave=clave,
        description=description,
        unit=unit,
        total=Pair(int(low), int(high)),
        counted={code: Pair(a, b) for code, a, b in breakdown["counted"]},
        members={
            coordinator: {code: Pair(a, b) for code, a, b in members}
            for coordinator, members in breakdown["members"].items()
        },
    )


def _kept_total(row: Any) -> ConsolidatedTotal:
    clave, description, unit, low, high, counted = row
    return ConsolidatedTotal(clave, description, unit, Pair(int(low), int(high)), int(counted))


def consolidated_page(
    db: Session,
    *,
    round_name: str,
    q: str = "",
    sort: str = "clave",
    page: int = 1,
    per_page: int = 50,
) -> ConsolidatedPage[ConsolidatedLine]:
    """One page of the consolidated claves matching ``q`` (as the catalog's search does),
    by clave or by total maximum (largest first), each with its breakdown (the API's answer):
    searched, sorted and cut in SQL over the round's kept consolidation."""
    return _consolidated_page(
        db, round_name, q, sort, page, per_page, ConsolidatedDemand.breakdown, _kept_line
    )


def consolidated_totals(
    db: Session,
    *,
    round_name: str,
    q: str = "",
    sort: str = "clave",
    page: int = 1,
    per_page: int = 50,
) -> ConsolidatedPage[ConsolidatedTotal]:
    """``consolidated_page`` without the breakdowns, which are most of its weight (62
    institutions: 1.5 kB per clave): what the page lists."""
    return _consolidated_page(
        db, round_name, q, sort, page, per_page, ConsolidatedDemand.counted, _kept_total
    )


def _consolidated_page(
    db: Session,
    round_name: str,
    q: str,
    sort: str,
    page: int,
    per_page: int,
    column: InstrumentedAttribute[Any],
    item: Callable[[Any], Item],
) -> ConsolidatedPage[Item]:
    found = get_round(db, round_name)
    summary = _summary(db, found, _kept(db, found))
    table = ConsolidatedDemand
    # The page's claves are chosen on the narrow columns, and only theirs read whole: sorting
    # every clave with its breakdown (62 institutions: 1.5 kB each) took most of the query.
    chosen = (
        select(table.clave_id, table.clave, table.total_min, table.total_max)
        .join(Clave, Clave.id == table.clave_id)
        .where(table.round_id == found.id)
    )
    matching = summary.claves
    if q.strip():
        chosen = chosen.where(*_search_conditions(q))
        matching = db.scalar(select(func.count()).select_from(chosen.subquery())) or 0

    def order(low: Any, high: Any, clave: Any) -> tuple[Any, ...]:
        return (high.desc(), low.desc(), clave) if sort == "total" else (clave,)

    start = (max(page, 1) - 1) * per_page
    cut = (
        chosen.order_by(*order(table.total_min, table.total_max, table.clave))
        .offset(start)
        .limit(per_page)
        .subquery()
    )
    rows = db.execute(
        select(cut.c.clave, Clave.description, Clave.unit, cut.c.total_min, cut.c.total_max, column)
        .join(Clave, Clave.id == cut.c.clave_id)
        .join(table, and_(table.round_id == found.id, table.clave_id == cut.c.clave_id))
        .order_by(*order(cut.c.total_min, cut.c.total_max, cut.c.clave))
    ).all()
    return ConsolidatedPage(summary, [item(row) for row in rows], matching, page, per_page)


def consolidated_line(db: Session, *, round_name: str, clave: str) -> ConsolidatedLine:
    """One clave of the round's kept consolidation with its breakdown (what the page shows
    when the buyer opens the clave), or ``NotFound`` when the round has no lines of it."""
    found = get_round(db, round_name)
    _kept(db, found)
    table = ConsolidatedDemand
    row = db.execute(
        select(
            table.clave,
            Clave.description,
            Clave.unit,
            table.total_min,
            table.total_max,
            table.breakdown,
        )
        .join(Clave, Clave.id == table.clave_id)
        .where(table.round_id == found.id, table.clave == clave.strip())
    ).one_or_none()
    if row is None:
        raise NotFound(f"La ronda {found.name} no tiene demanda de la clave «{clave.strip()}».")
    return _kept_line(row)


def export_xlsx(db: Session, *, round_name: str) -> bytes:
    """The consolidated appendix in the official wide layout; ``import_appendix`` reads it
    back to the same lines.

    The first sheet has the institutions whose quantities count, and its TOTALES are the
    consolidated totals; each coordinator whose members also stated the claves it states gets
    a detail sheet with them (like «1.1 Detalle CCINSHAE» of 2023-2024), named by full name.
    """
    consolidation = consolidate_round(db, round_name=round_name)
    main_names: list[str] = []
    detail: dict[str, list[str]] = defaultdict(list)
    for line in consolidation.lines:
        main_names.extend(code for code in line.counted if code not in main_names)
        for coordinator, members in line.members.items():
            detail[coordinator].extend(m for m in members if m not in detail[coordinator])
    order = list(consolidation.institutions)
    title = f"APÉNDICE DEMANDA CONSOLIDADA {consolidation.round.name}"
    sheets = [
        appendix.ConsolidatedSheet(
            appendix.APPENDIX_SHEET,
            title,
            sorted(main_names, key=order.index),
            [
                appendix.ConsolidatedRow(
                    line.clave,
                    line.description,
                    line.unit,
                    {code: (pair.min, pair.max) for code, pair in line.counted.items()},
                )
                for line in consolidation.lines
            ],
        )
    ]
    for coordinator in sorted(detail, key=order.index):
        names = {code: consolidation.institutions[code] for code in detail[coordinator]}
        sheets.append(
            appendix.ConsolidatedSheet(
                f"Detalle {coordinator}"[:31],
                f"{title} ({coordinator})",
                [names[code] for code in sorted(names, key=order.index)],
                [
                    appendix.ConsolidatedRow(
                        line.clave,
                        line.description,
                        line.unit,
                        {names[c]: (p.min, p.max) for c, p in line.members[coordinator].items()},
                    )
                    for line in consolidation.lines
                    if coordinator in line.members
                ],
            )
        )
    return appendix.write_appendix_sheets(sheets)


def consolidated_frame(db: Session, *, round_name: str) -> pl.DataFrame:
    """The consolidated round as open data: one row per clave and institution.

    ``en_total`` says whether the row's quantities are in the clave's total (false for a
    coordinator's members, already included in the coordinator's); ``total_minimo`` and
    ``total_maximo`` repeat the clave's consolidated total on each of its rows.
    """
    consolidation = consolidate_round(db, round_name=round_name)
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "ronda",
            "clave",
            "descripcion",
            "unidad_medida",
            "institucion",
            "institucion_nombre",
            "coordinadora",
            "minimo",
            "maximo",
            "en_total",
            "total_minimo",
            "total_maximo",
        )
    }
    order = list(consolidation.institutions)
    for line in consolidation.lines:
        stated = [(code, pair, True) for code, pair in line.counted.items()]
        for members in line.members.values():
            stated.extend((code, pair, False) for code, pair in members.items())
        for code, pair, counted in sorted(stated, key=lambda s: order.index(s[0])):
            columns["ronda"].append(consolidation.round.name)
            columns["clave"].append(line.clave)
            columns["descripcion"].append(line.description)
            columns["unidad_medida"].append(line.unit)
            columns["institucion"].append(code)
            columns["institucion_nombre"].append(consolidation.institutions[code])
            columns["coordinadora"].append(consolidation.coordinators.get(code))
            columns["minimo"].append(pair.min)
            columns["maximo"].append(pair.max)
            columns["en_total"].append(counted)
            columns["total_minimo"].append(line.total.min)
            columns["total_maximo"].append(line.total.max)
    schema = {
        "ronda": pl.String,
        "clave": pl.String,
        "descripcion": pl.String,
        "unidad_medida": pl.String,
        "institucion": pl.String,
        "institucion_nombre": pl.String,
        "coordinadora": pl.String,
        "minimo": pl.Int64,
        "maximo": pl.Int64,
        "en_total": pl.Boolean,
        "total_minimo": pl.Int64,
        "total_maximo": pl.Int64,
    }
    return pl.DataFrame(columns, schema=schema)


def export_csv(db: Session, *, round_name: str) -> bytes:
    """The consolidated round as CSV (UTF-8 with BOM, so Excel reads the accents)."""
    frame = consolidated_frame(db, round_name=round_name)
    # Text cells that start like a formula are neutralised; numbers stay numbers.
    safe = frame.with_columns(
        pl.col(pl.String).map_elements(neutralise_cell, return_dtype=pl.String)
    )
    return csv_bytes(safe.write_csv())


def export_parquet(db: Session, *, round_name: str) -> bytes:
    buffer = io.BytesIO()
    consolidated_frame(db, round_name=round_name).write_parquet(buffer)
    return buffer.getvalue()


# ----- consumption and forecasts -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsumptionImportSummary:
    filename: str
    sha256: str
    rows: int
    new: int
    updated: int
    unchanged: int
    units: int
    claves: int
    first_month: date | None
    last_month: date | None


def import_consumption(ctx: Context, *, content: bytes, filename: str) -> ConsumptionImportSummary:
    """Import monthly consumption per unit × clave; all or nothing, every problem at once.

    A month already stored for the unit and clave is replaced by the file's. Units are found
    by their code across institutions (a code two institutions share must be told apart in
    the registry first).
    """
    rows = forecast.read_consumption(content, filename)
    known = _clave_ids(ctx.db)
    codes = sorted({row.unit_code for row in rows})
    units: dict[str, list[int]] = defaultdict(list)
    for start in range(0, len(codes), _IN_BATCH):
        for code, unit_id in ctx.db.execute(
            select(Unit.code, Unit.id).where(Unit.code.in_(codes[start : start + _IN_BATCH]))
        ):
            units[code].append(unit_id)
    problems: list[Problem] = []
    suggestions: dict[str, str | None] = {}
    wanted: dict[tuple[int, int, date], tuple[int, int | None]] = {}
    reported: set[str] = set()
    for row in rows:
        found = units.get(row.unit_code, [])
        if len(found) != 1:
            if row.unit_code not in reported:
                reported.add(row.unit_code)
                problems.append(
                    Problem(
                        "la unidad no está registrada"
                        if not found
                        else "varias instituciones tienen una unidad con esta clave",
                        sheet=row.sheet,
                        row=row.row,
                        column="Unidad",
                        value=row.unit_code,
                        expected=forecast.UNIT_EXPECTED + " registrada en Abasto",
                    )
                )
            continue
        clave_id = known.get(row.clave)
        if clave_id is None:
            problems.append(
                _unknown_clave(
                    row.clave, known, suggestions, sheet=row.sheet, row=row.row, column="Clave"
                )
            )
            continue
        wanted[(found[0], clave_id, row.month)] = (row.consumed, row.stockout_days)
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"El archivo de consumo «{filename}» tiene {count}; no se importó ningún renglón.",
            problems=problems,
        )
    unit_ids = sorted({key[0] for key in wanted})
    existing: dict[tuple[int, int, date], tuple[int, int, int | None]] = {}
    for start in range(0, len(unit_ids), _IN_BATCH):
        for row_id, unit_id, clave_id, month, consumed, stockout in ctx.db.execute(
            select(
                Consumption.id,
                Consumption.unit_id,
                Consumption.clave_id,
                Consumption.month,
                Consumption.consumed,
                Consumption.stockout_days,
            ).where(Consumption.unit_id.in_(unit_ids[start : start + _IN_BATCH]))
        ):
            existing[(unit_id, clave_id, month)] = (row_id, consumed, stockout)
    inserts, updates, unchanged = [], [], 0
    for (unit_id, clave_id, month), (consumed, stockout) in wanted.items():
        current = existing.get((unit_id, clave_id, month))
        if current is None:
            inserts.append(
                {
                    "unit_id": unit_id,
                    "clave_id": clave_id,
                    "month": month,
                    "consumed": consumed,
                    "stockout_days": stockout,
                }
            )
        elif (current[1], current[2]) != (consumed, stockout):
            updates.append({"b_id": current[0], "b_consumed": consumed, "b_stockout": stockout})
        else:
            unchanged += 1
    table = cast(Table, Consumption.__table__)
    if updates:
        ctx.db.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(consumed=bindparam("b_consumed"), stockout_days=bindparam("b_stockout")),
            updates,
        )
    if inserts:
        try:
            ctx.db.execute(insert(table), inserts)
        except IntegrityError as exc:
            raise Conflict(
                "Otra importación de consumo escribió los mismos meses al mismo tiempo; "
                "no se importó nada. Vuelva a importar el archivo."
            ) from exc
    months = [key[2] for key in wanted]
    summary = ConsumptionImportSummary(
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        rows=len(wanted),
        new=len(inserts),
        updated=len(updates),
        unchanged=unchanged,
        units=len(unit_ids),
        claves=len({key[1] for key in wanted}),
        first_month=min(months, default=None),
        last_month=max(months, default=None),
    )
    ctx.record(
        "consumption.import",
        "consumption",
        {
            "filename": filename,
            "sha256": summary.sha256,
            "rows": summary.rows,
            "new": summary.new,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "units": summary.units,
            "claves": summary.claves,
            "first_month": summary.first_month,
            "last_month": summary.last_month,
        },
    )
    return summary


def _histories(
    db: Session, *, institution_ids: Iterable[int] | None = None
) -> tuple[forecast.ConsumptionHistory, dict[str, int], dict[str, int]]:
    """The stored consumption as monthly series per (unit code, clave), adjusted for stock-outs,
    with each unit code's institution id and each clave's id."""
    query = (
        select(
            Unit.code,
            Unit.institution_id,
            Clave.clave,
            Clave.id,
            Consumption.month,
            Consumption.consumed,
            Consumption.stockout_days,
        )
        .join(Unit, Unit.id == Consumption.unit_id)
        .join(Clave, Clave.id == Consumption.clave_id)
    )
    if institution_ids is not None:
        query = query.where(Unit.institution_id.in_(list(institution_ids)))
    rows = []
    unit_institution: dict[str, int] = {}
    clave_ids: dict[str, int] = {}
    for unit, institution_id, clave, clave_id, month, consumed, stockout in db.execute(query):
        unit_institution[unit] = institution_id
        clave_ids[clave] = clave_id
        rows.append(forecast.ConsumptionRow("", 0, unit, clave, month, consumed, stockout))
    return forecast.monthly_histories(rows), unit_institution, clave_ids


@dataclass(frozen=True, slots=True)
class ForecastSummary:
    round: str
    suggestions: int
    institutions: int
    series: int
    horizon_months: int
    lead_months: int
    models: dict[str, int]
    flagged: int


def _months_from(last: date, first_of_round: date) -> int:
    """Whole months strictly between the month ``last`` and the round's first month."""
    gap = (first_of_round.year - last.year) * 12 + first_of_round.month - last.month - 1
    return max(gap, 0)


def _has_history(db: Session, institution_ids: Sequence[int]) -> bool:
    """Whether any unit of these institutions has consumption on record."""
    if not institution_ids:
        return False
    return (
        db.scalar(
            select(Consumption.id)
            .join(Unit, Unit.id == Consumption.unit_id)
            .where(Unit.institution_id.in_(list(institution_ids)))
            .limit(1)
        )
        is not None
    )


def run_forecast(
    ctx: Context, *, round_name: str, institution_code: str | None = None, n_jobs: int = 2
) -> ForecastSummary:
    """Suggest each participating institution's maximum of every clave it consumed.

    Each unit's series is forecast on its own (``forecast.forecast_many``) over the round's
    months, the months between the last consumption and the round's start forecast but not
    counted; an institution's suggestion is the sum over its units, shown with the model
    that gave most of it (``detail`` keeps every unit's). Replaces the round's suggestions
    (only that institution's when ``institution_code`` names one: a planner's «Calcular
    pronósticos»). The models are fitted before the round is locked, so planners keep
    editing meanwhile.
    """
    institution = None
    if institution_code is not None:
        institution = get_institution(ctx.db, institution_code)
        ctx.require_institution(institution.id)
    found = get_round(ctx.db, round_name)
    participants = [
        institution_id
        for (institution_id,) in ctx.db.execute(
            select(RoundInstitution.institution_id).where(RoundInstitution.round_id == found.id)
        )
    ]
    if institution is not None:
        if institution.id not in participants:
            raise Conflict(
                f"La institución {institution.code} no participa en la ronda «{found.name}»."
            )
        participants = [institution.id]
    history, unit_institution, clave_ids = _histories(ctx.db, institution_ids=participants)
    horizon = rules.horizon_months(found.periods)
    lead = 0
    if history.months:
        lead = _months_from(history.months[-1], date.fromisoformat(found.periods[0]["start"]))
    suggestions = (
        forecast.forecast_many(
            history.series, horizon_months=horizon, lead_months=lead, n_jobs=n_jobs
        )
        if history.series
        else {}
    )
    grouped: dict[tuple[int, int], dict[str, forecast.Suggestion]] = defaultdict(dict)
    for (unit, clave), suggestion in suggestions.items():
        grouped[(unit_institution[unit], clave_ids[clave])][unit] = suggestion
    found = _locked_round(ctx, round_name, writable=False)
    ctx.db.execute(
        delete(ForecastSuggestion).where(
            ForecastSuggestion.round_id == found.id,
            ForecastSuggestion.institution_id.in_(participants),
        )
    )
    inserts = []
    models: dict[str, int] = defaultdict(int)
    for (institution_id, clave_id), by_unit in grouped.items():
        main = max(by_unit.values(), key=lambda s: (s.total, s.history_months))
        models[main.model] += 1
        inserts.append(
            {
                "round_id": found.id,
                "institution_id": institution_id,
                "clave_id": clave_id,
                "suggested_max": sum(s.total for s in by_unit.values()),
                "model": main.model,
                "pattern": main.pattern,
                "history_months": max(s.history_months for s in by_unit.values()),
                "detail": json.dumps(
                    {
                        unit: {
                            "total": s.total,
                            "model": s.model,
                            "pattern": s.pattern,
                            "history_months": s.history_months,
                        }
                        for unit, s in sorted(by_unit.items())
                    },
                    ensure_ascii=False,
                    sort_keys=True,
                ),
                "computed_at": ctx.now,
            }
        )
    if inserts:
        ctx.db.execute(insert(cast(Table, ForecastSuggestion.__table__)), inserts)
    flagged = len(round_flags(ctx, round_name=found.name))
    summary = ForecastSummary(
        round=found.name,
        suggestions=len(inserts),
        institutions=len({key[0] for key in grouped}),
        series=len(suggestions),
        horizon_months=horizon,
        lead_months=lead,
        models=dict(sorted(models.items())),
        flagged=flagged,
    )
    ctx.record(
        "forecast.run",
        f"round:{found.name}",
        {
            "round": found.name,
            **({"institution": institution_code} if institution_code else {}),
            "suggestions": summary.suggestions,
            "institutions": summary.institutions,
            "series": summary.series,
            "horizon_months": horizon,
            "lead_months": lead,
            "history": [history.months[0], history.months[-1]] if history.months else None,
            "models": summary.models,
            "flagged": flagged,
        },
    )
    return summary


@dataclass(frozen=True, slots=True)
class FlaggedLine:
    institution: str
    clave: str
    description: str
    submitted_max: int
    suggested_max: int
    model: str
    history_months: int
    flag: str


def round_flags(
    ctx: Context, *, round_name: str, institution_code: str | None = None
) -> list[FlaggedLine]:
    """The institutions' lines whose maximum is far from the forecast's suggestion.

    A planner sees only its own institution's; buyers and auditors every one.
    """
    found = get_round(ctx.db, round_name)
    conditions: list[ColumnElement[bool]] = [DemandLine.round_id == found.id]
    if institution_code is not None:
        institution = get_institution(ctx.db, institution_code)
        _require_reader(ctx, institution.id)
        conditions.append(DemandLine.institution_id == institution.id)
    elif ctx.actor.has_role("institucion"):
        conditions.append(DemandLine.institution_id == (ctx.actor.institution_id or 0))
    rows = ctx.db.execute(
        select(
            Institution.code,
            Clave.clave,
            Clave.description,
            DemandLine.max_qty,
            ForecastSuggestion.suggested_max,
            ForecastSuggestion.model,
            ForecastSuggestion.history_months,
        )
        .join(Institution, Institution.id == DemandLine.institution_id)
        .join(Clave, Clave.id == DemandLine.clave_id)
        .join(
            ForecastSuggestion,
            and_(
                ForecastSuggestion.round_id == DemandLine.round_id,
                ForecastSuggestion.institution_id == DemandLine.institution_id,
                ForecastSuggestion.clave_id == DemandLine.clave_id,
            ),
        )
        .where(*conditions, DemandLine.unit_code == "", DemandLine.period == "")
        .order_by(Institution.code, Clave.clave)
    )
    flagged = []
    for code, clave, description, submitted, suggested, model, months in rows:
        mark = forecast.flag(int(submitted), suggested)
        if mark is not None:
            flagged.append(
                FlaggedLine(
                    code, clave, description, int(submitted), suggested, model, months, mark
                )
            )
    return flagged


def backtest_history(
    db: Session, *, holdout_months: int = 12, n_jobs: int = 2
) -> dict[str, forecast.ModelAccuracy]:
    """Each model's accuracy (MASE) on the last ``holdout_months`` of the stored consumption."""
    history, _, _ = _histories(db)
    if not history.series:
        raise ValidationFailed(
            "No hay consumo registrado con qué medir los modelos.",
            expected="consumo mensual importado con «abasto demand import-consumption»",
        )
    return forecast.backtest(history.series, holdout_months=holdout_months, n_jobs=n_jobs)
