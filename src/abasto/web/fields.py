"""What a page calls each field: a problem shown on a page names the field as the form labels
it («Cierre de recepción de proposiciones»), never the name the code uses (``bid_deadline``).

The API keeps the names (they are its contract); ``for_page`` relabels a problem for a page
(``web/errors`` for the error pages, the ``campo`` filter for the problems tables).
"""

from __future__ import annotations

import re
from dataclasses import replace

from abasto.core.errors import Problem

FIELD_LABELS = {
    # tendering
    "title": "Título",
    "procedure": "Procedimiento",
    "round": "Ronda de demanda",
    "round_name": "Ronda de demanda",
    "partidas": "Partidas",
    "partida": "Partida",
    "invited": "RFC de los invitados",
    "legal_basis": "Fundamento legal",
    "justification": "Justificación",
    "clarification_deadline": "Límite de preguntas",
    "bid_deadline": "Cierre de recepción de proposiciones",
    "opening_at": "Apertura de proposiciones",
    "fallo_at": "Fallo",
    "text": "Pregunta",
    "answer": "Respuesta",
    "reason": "Motivo",
    "version": "Versión leída",
    "file": "Archivo",
    "replaces": "Proposición que sustituye",
    "submission": "Envío",
    "lines": "Partidas de la proposición",
    "unit_price": "Precio Unitario",
    "quantity": "Cantidad",
    "presentation": "Presentación ofertada",
    "registro_sanitario": "Registro Sanitario",
    "manufacturer": "Fabricante del bien",
    "country": "País de origen",
    # award
    "complies": "Cumple",
    "requirement": "Requisito",
    "mode": "Modo de adjudicación",
    "rates": "Tipos de cambio",
    "mapping": "Equivalencias",
    "confirmar": "Confirmación",
    "bid_id": "Proposición",
    # demand
    "name": "Nombre",
    "periods": "Periodos",
    "min_share": "Mínimo, como porcentaje del máximo",
    "institutions": "Instituciones",
    "institution": "Institución",
    "deadline": "Fecha límite de captura",
    "min_qty": "Cantidad mínima",
    "max_qty": "Cantidad máxima",
    "minimo": "Cantidad mínima",
    "maximo": "Cantidad máxima",
    "unit_code": "Unidad",
    "unidad": "Punto de entrega",
    "clave": "Clave",
    "claves": "Claves",
    "replace": "Reemplazar",
    "map_suggested": "Asociar nombres parecidos",
    "register_unknown": "Registrar nombres nuevos",
    # identity
    "username": "Usuario",
    "password": "Contraseña",
    "full_name": "Nombre completo",
    "rfc": "RFC",
    "razon_social": "Razón social",
    "state": "Estado",
    "municipality": "Municipio",
    "tax_certificate": "Constancia de Situación Fiscal",
    "articles_of_incorporation": "Acta constitutiva",
    "representative": "Representante legal",
    "aliases": "Otros nombres",
    "alias": "Otro nombre",
    "parent": "Institución a la que pertenece",
    "kind": "Tipo",
    "code": "Clave",
    "label": "Nombre del token",
    "note": "Nota",
    "role": "Rol",
    "siguiente": "Página siguiente",
    # contracts and inventory
    "party": "Parte que firma",
    "issuer": "Afianzadora o emisora",
    "document": "Póliza o documento",
    "due_on": "Fecha de entrega",
    "ends_on": "Fin de vigencia",
    "amount": "Importe",
    "lot": "Lote",
    "lots": "Lotes",
    "expiry": "Caducidad",
    "unit": "Unidad",
    "to_unit": "Unidad destino",
    "description": "Descripción",
    "day": "Día",
    "desde": "Desde",
    "hasta": "Hasta",
    "months": "Meses",
    "min_months": "Meses mínimos",
    "accepted": "Aceptadas",
    "source": "Origen",
    "status": "Estado",
    "supplier": "Proveedor",
    "q": "Búsqueda",
    "page": "Página",
    "estado": "Estado",
}

_INDEX = re.compile(r"\[(\d+)\]")
_LOCATIONS = frozenset({"path", "query", "header", "cookie"})


def field_label(name: str | None) -> str | None:
    """The label a page gives a field: ``bid_deadline`` → «Cierre de recepción de
    proposiciones»; a member of a list (``lines[2].unit_price``) → «Partidas de la
    proposición 3, Precio Unitario». A name it does not know is returned as it is."""
    if name is None:
        return None
    parts = []
    # Where pydantic found a parameter is not something a page's user filled in.
    steps = name.split(".")
    if len(steps) > 1 and steps[0] in _LOCATIONS:
        steps = steps[1:]
    for part in steps:
        index = _INDEX.search(part)
        base = _INDEX.sub("", part)
        label = FIELD_LABELS.get(base, base)
        parts.append(f"{label} {int(index[1]) + 1}" if index else label)
    return ", ".join(parts)


def for_page(problem: Problem) -> Problem:
    """The problem as a page shows it: its field named by its label."""
    if problem.field is None:
        return problem
    return replace(problem, field=field_label(problem.field))
