"""What a page calls each field: a problem shown on a page names the field as the form labels
it («Cierre de recepción de proposiciones»), never the name the code uses (``bid_deadline``).

The API keeps the names (they are its contract); ``for_page`` relabels a problem for a page,
and ``pydantic_message`` says in Spanish what pydantic found wrong with a form's field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

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


def field_label(name: str | None) -> str | None:
    """The label a page gives a field: ``bid_deadline`` → «Cierre de recepción de
    proposiciones»; a member of a list (``lines[2].unit_price``) → «Partidas de la
    proposición 3, Precio Unitario». A name it does not know is returned as it is."""
    if name is None:
        return None
    parts = []
    for part in name.split("."):
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


_MESSAGES = {
    "missing": "falta",
    "string_too_long": "es demasiado largo: a lo más {max_length} caracteres",
    "string_too_short": "es demasiado corto: al menos {min_length} caracteres",
    "too_long": "tiene demasiados elementos: a lo más {max_length}",
    "int_parsing": "no es un número entero",
    "int_type": "no es un número entero",
    "int_from_float": "no es un número entero",
    "float_parsing": "no es un número",
    "decimal_parsing": "no es un número",
    "bool_parsing": "no es sí o no",
    "greater_than_equal": "debe ser al menos {ge}",
    "greater_than": "debe ser mayor que {gt}",
    "less_than_equal": "debe ser a lo más {le}",
    "less_than": "debe ser menor que {lt}",
    "string_pattern_mismatch": "no tiene la forma esperada",
    "literal_error": "no es una de las opciones: {expected}",
    "enum": "no es una de las opciones: {expected}",
    "date_parsing": "no es una fecha (aaaa-mm-dd)",
    "date_from_datetime_parsing": "no es una fecha (aaaa-mm-dd)",
    "datetime_parsing": "no es una fecha y hora",
    "datetime_from_date_parsing": "no es una fecha y hora",
    "url_parsing": "no es una dirección válida",
}


def pydantic_message(error: Mapping[str, Any]) -> str:
    """What pydantic found wrong with a field, in Spanish (its own text is English)."""
    kind = str(error.get("type", ""))
    template = _MESSAGES.get(kind)
    if template is None:
        if kind == "value_error":
            # Our own validators raise ValueError with a Spanish text; pydantic prefixes it.
            return str(error.get("msg", "")).removeprefix("Value error, ") or "valor no válido"
        return "valor no válido"
    context = error.get("ctx") or {}
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return template.split(":")[0]
