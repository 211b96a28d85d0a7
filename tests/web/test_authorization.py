"""Walk every route as the anonymous public, each role, and users of the wrong scope.

The matrix below is the written statement of who may use what. The test checks that it matches
the policy each route declares (so a route cannot be added or loosened silently), then sends a
real request as every principal: the denied get 401 (anonymous) or 403, the admitted get past
authorization — and never a 500.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.catalog import service as catalog
from abasto.core.context import Context
from abasto.identity import service as identity
from abasto.identity.models import Role, User
from abasto.identity.rules import make_rfc
from abasto.transparency.opendata.service import FORMATS
from abasto.transparency.opendata.tables import TABLES
from abasto.web.deps import policy_roles

PUBLIC = None
ALL = frozenset(Role)
C, INST, P, E, A = Role.comprador, Role.institucion, Role.proveedor, Role.evaluador, Role.auditor
DEMAND_READ = frozenset({C, INST, A})
DEMAND_WRITE = frozenset({C, INST})
CONTRACT_READ = frozenset({C, INST, P, A})
CONTRACT_PARTY = frozenset({C, INST, P})
SUPPLIER_WRITE = frozenset({C, P})
ROUND = "/api/v1/demand/rounds/{round_name}"
TENDER = "/api/v1/tenders/{tender_id}"
MINE = "/proveedor/licitaciones/{tender_id}"
MANAGE = "/comprador/licitaciones/{tender_id}"
INVENTORY_UNIT = "/api/v1/inventory/units/{code}/{unit}"

HOME_RFC = make_rfc("FAB", date(2001, 5, 17), "K3")
OTHER_RFC = make_rfc("DIS", date(1999, 2, 3), "P7")
CLAVE = "010.000.0104.00"
PASSWORD = "contrasena-segura-1"


def _csv(text: str) -> dict[str, Any]:
    return {"files": {"file": ("archivo.csv", io.BytesIO(text.encode()), "text/csv")}}


def _homologations() -> dict[str, Any]:
    return _csv(f"Clave institucional,Clave\nIMSS-0001,{CLAVE}\n")


def _line() -> dict[str, Any]:
    return {"json": {"min_qty": 40, "max_qty": 100, "version": None}}


def _sheet() -> dict[str, Any]:
    return _csv(f"Clave,Cantidad mínima,Cantidad máxima\n{CLAVE},40,100\n")


def _draft_edit() -> dict[str, Any]:
    return {"json": {"title": "Medicamentos del primer nivel, borrador revisado"}}


def _supplier_patch() -> dict[str, Any]:
    return {"json": {"razon_social": "Farmacéutica de Prueba, S.A. de C.V.", "version": 1}}


def _verification() -> dict[str, Any]:
    return {
        "json": {
            "tax_certificate": "19010123456",
            "articles_of_incorporation": "Escritura 1",
            "representative": "Representante",
        }
    }


def _rejection() -> dict[str, Any]:
    return {"json": {"note": "Documentos incompletos"}}


def _note() -> dict[str, Any]:
    return {"json": {"note": ""}}


def _reason() -> dict[str, Any]:
    return {"json": {"reason": "así lo publicó la dependencia"}}


def _dispensing() -> dict[str, Any]:
    return {
        "json": {"lines": [{"clave": CLAVE, "quantity": 1}]},
        "headers": {"Idempotency-Key": "k-1"},
    }


def _receipt() -> dict[str, Any]:
    line = {"clave": CLAVE, "lot": "L1", "expiry": "2027-06-30", "quantity": 1}
    return {"json": {"lines": [line]}}


def _count() -> dict[str, Any]:
    return {"json": {"clave": CLAVE, "lots": []}}


def _adjustment() -> dict[str, Any]:
    line = {"clave": CLAVE, "lot": "L1", "expiry": "2027-06-30", "quantity": 1}
    return {"json": {**line, "reason": "Prueba"}}


def _movements_csv() -> dict[str, Any]:
    return _csv(
        f"Fecha,Clave,Movimiento,Lote,Caducidad,Cantidad\n2026-11-01,{CLAVE},inicial,L1,2027-06-30,1\n"
    )


def _transfer() -> dict[str, Any]:
    return {
        "json": {
            "from_institution": "IMSS",
            "from_unit": "HGZ-1",
            "to_institution": "ISSSTE",
            "to_unit": "CMF-1",
            "clave": CLAVE,
            "quantity": 1,
        }
    }


def _version() -> dict[str, Any]:
    return {"json": {"version": None}}


def _receipt_form() -> dict[str, Any]:
    return {"data": {"clave": CLAVE, "lot": "L1", "expiry": "2027-06-30", "quantity": "1"}}


def _dispensing_form() -> dict[str, Any]:
    return {"data": {"clave": CLAVE, "quantity": "1"}}


def _count_query() -> dict[str, Any]:
    return {"params": {"clave": CLAVE}}


def _count_form() -> dict[str, Any]:
    return {"data": {"clave": CLAVE, "lot": "L1", "expiry": "2027-06-30", "quantity": "1"}}


def _transfer_form() -> dict[str, Any]:
    return {"data": {"to_unit": "IMSS/UMF-2", "clave": CLAVE, "quantity": "1"}}


def _redistribution() -> dict[str, Any]:
    return {"json": {"clave": CLAVE}}


def _redistribution_form() -> dict[str, Any]:
    return {"data": {"clave": CLAVE}}


def _login_form() -> dict[str, Any]:
    return {"data": {"username": "comprador", "password": PASSWORD}}


def _login_json() -> dict[str, Any]:
    return {"json": {"username": "comprador", "password": PASSWORD}}


def _bid_json() -> dict[str, Any]:
    """A well-formed bid: the bid routes admit in their thread, after parsing the body."""
    line = {"partida": 1, "unit_price": "10.00", "quantity": 1, "presentation": "Caja"}
    return {"json": {"lines": [line]}}


def _institution() -> dict[str, Any]:
    return {"json": {"code": "NUEVA", "name": "Institución Nueva", "kind": "otro"}}


def _rename() -> dict[str, Any]:
    return {"json": {"name": "Nombre Nuevo"}}


def _alias() -> dict[str, Any]:
    return {"json": {"alias": "Otro Nombre"}}


def _unit() -> dict[str, Any]:
    return {"json": {"code": "UNIDAD-1", "name": "Unidad Uno", "state": "09"}}


def _kept_checkpoint() -> dict[str, Any]:
    return {"json": {"note": "no es una nota firmada\n"}}


def _deadline() -> dict[str, Any]:
    return {"json": {"deadline": None}}


def _empty() -> dict[str, Any]:
    return {"json": {}}


def _signature() -> dict[str, Any]:
    return {"json": {"party": "institucion"}}


def _guarantee() -> dict[str, Any]:
    return {"json": {"issuer": "Afianzadora", "document": "Póliza 1"}}


def _order() -> dict[str, Any]:
    return {"json": {"clave": CLAVE, "quantity": 1, "unit": "U1"}}


def _shipment() -> dict[str, Any]:
    lot = {"lot": "L1", "expiry": "2030-01-01", "quantity": 1, "registro_sanitario": "R"}
    return {"json": {"lots": [lot]}}


def _shipment_receipt() -> dict[str, Any]:
    return {"json": {"lots": [{"lot": "L1", "accepted": 1}]}}


@dataclass(frozen=True)
class Case:
    roles: frozenset[Role] | None
    scope: str | None = None  # "institution" or "supplier": who else of that role is refused
    body: Callable[[], dict[str, Any]] | None = None


# (method, path) → who may use it. Scoped routes act on IMSS or on the HOME supplier.
MATRIX: dict[tuple[str, str], Case] = {
    ("GET", "/"): Case(PUBLIC),
    ("GET", "/docs"): Case(PUBLIC),
    ("POST", "/api/v1/auth/token"): Case(PUBLIC, body=_login_json),
    ("DELETE", "/api/v1/auth/token"): Case(ALL),
    ("GET", "/api/v1/me"): Case(ALL),
    ("GET", "/api/v1/me/pending"): Case(ALL),
    ("GET", "/pendientes"): Case(ALL),
    ("GET", "/api/v1/claves"): Case(PUBLIC),
    ("GET", "/api/v1/claves/{clave}"): Case(PUBLIC),
    ("POST", "/api/v1/catalog/imports"): Case(frozenset({C})),
    ("GET", "/api/v1/institutions/{code}/homologations"): Case(PUBLIC),
    ("POST", "/api/v1/institutions/{code}/homologations"): Case(
        frozenset({C, INST}), scope="institution", body=_homologations
    ),
    ("GET", "/api/v1/ledger"): Case(PUBLIC),
    ("GET", "/api/v1/ledger/verify"): Case(PUBLIC),
    ("POST", "/api/v1/ledger/verify"): Case(PUBLIC, body=_kept_checkpoint),
    ("GET", "/api/v1/ledger/checkpoint"): Case(PUBLIC),
    ("GET", "/api/v1/ledger/proof/{seq}"): Case(PUBLIC),
    ("GET", "/api/v1/ledger/consistency"): Case(PUBLIC),
    ("GET", "/bitacora/verificar"): Case(PUBLIC),
    ("GET", "/entrar"): Case(PUBLIC),
    ("POST", "/entrar"): Case(PUBLIC, body=_login_form),
    ("POST", "/salir"): Case(ALL),
    ("GET", "/cuenta"): Case(ALL),
    ("POST", "/cuenta/tokens"): Case(ALL),
    ("GET", "/catalogo"): Case(PUBLIC),
    ("GET", "/catalogo/importar"): Case(frozenset({C})),
    ("POST", "/catalogo/importar"): Case(frozenset({C})),
    ("GET", "/catalogo/{clave}"): Case(PUBLIC),
    ("GET", "/bitacora"): Case(PUBLIC),
    ("GET", "/bitacora/entradas/{seq}"): Case(PUBLIC),
    ("GET", "/api/v1/institutions"): Case(PUBLIC),
    ("GET", "/api/v1/institutions/{code}"): Case(PUBLIC),
    ("POST", "/api/v1/institutions"): Case(frozenset({C}), body=_institution),
    ("PATCH", "/api/v1/institutions/{code}"): Case(frozenset({C}), body=_rename),
    ("POST", "/api/v1/institutions/{code}/aliases"): Case(frozenset({C}), body=_alias),
    ("POST", "/api/v1/institutions/{code}/retirement"): Case(frozenset({C}), body=_reason),
    ("POST", "/api/v1/institutions/{code}/units"): Case(frozenset({C}), body=_unit),
    ("PATCH", "/api/v1/institutions/{code}/units/{unit_code}"): Case(frozenset({C}), body=_rename),
    ("POST", "/api/v1/institutions/{code}/units/{unit_code}/retirement"): Case(
        frozenset({C}), body=_reason
    ),
    ("POST", "/api/v1/units/imports"): Case(frozenset({C})),
    ("GET", "/comprador/instituciones"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones"): Case(frozenset({C})),
    ("GET", "/comprador/instituciones/{code}"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/nombre"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/otros-nombres"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/retirar"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/unidades"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/unidades/nombre"): Case(frozenset({C})),
    ("POST", "/comprador/instituciones/{code}/unidades/retirar"): Case(frozenset({C})),
    ("GET", "/comprador/unidades/importar"): Case(frozenset({C})),
    ("POST", "/comprador/unidades/importar"): Case(frozenset({C})),
    ("GET", "/api/v1/suppliers"): Case(PUBLIC),
    ("POST", "/api/v1/suppliers"): Case(PUBLIC),
    ("GET", "/api/v1/suppliers/{rfc}"): Case(PUBLIC),
    ("PATCH", "/api/v1/suppliers/{rfc}"): Case(
        frozenset({C, P}), scope="supplier", body=_supplier_patch
    ),
    ("GET", "/api/v1/supplier-reviews"): Case(frozenset({C})),
    ("POST", "/api/v1/suppliers/{rfc}/verification"): Case(frozenset({C}), body=_verification),
    ("POST", "/api/v1/suppliers/{rfc}/rejection"): Case(frozenset({C}), body=_rejection),
    ("GET", "/api/v1/supplier-renames"): Case(frozenset({C})),
    ("POST", "/api/v1/supplier-renames/{rename_id}/approval"): Case(frozenset({C}), body=_note),
    ("POST", "/api/v1/supplier-renames/{rename_id}/rejection"): Case(frozenset({C}), body=_note),
    ("GET", "/comprador/proveedores"): Case(frozenset({C})),
    ("POST", "/comprador/proveedores/{rfc}/verificar"): Case(frozenset({C})),
    ("POST", "/comprador/proveedores/{rfc}/rechazar"): Case(frozenset({C})),
    ("POST", "/comprador/cambios-de-nombre/{rename_id}/aprobar"): Case(frozenset({C})),
    ("POST", "/comprador/cambios-de-nombre/{rename_id}/rechazar"): Case(frozenset({C})),
    ("GET", "/api/v1/sanctions"): Case(PUBLIC),
    ("POST", "/api/v1/sanctions/imports"): Case(frozenset({C})),
    ("GET", "/instituciones"): Case(PUBLIC),
    ("GET", "/instituciones/{code}"): Case(PUBLIC),
    ("GET", "/proveedores"): Case(PUBLIC),
    ("GET", "/proveedores/registro"): Case(PUBLIC),
    ("POST", "/proveedores/registro"): Case(PUBLIC),
    ("GET", "/proveedores/{rfc}"): Case(PUBLIC),
    ("GET", "/sancionados/importar"): Case(frozenset({C})),
    ("POST", "/sancionados/importar"): Case(frozenset({C})),
    ("GET", "/api/v1/demand/rounds"): Case(DEMAND_READ),
    ("POST", "/api/v1/demand/rounds"): Case(frozenset({C})),
    ("GET", ROUND): Case(DEMAND_READ),
    ("POST", f"{ROUND}/freeze"): Case(frozenset({C})),
    ("POST", f"{ROUND}/reopen"): Case(frozenset({C})),
    ("POST", f"{ROUND}/imports"): Case(frozenset({C})),
    ("GET", f"{ROUND}/observations"): Case(DEMAND_READ),
    ("POST", f"{ROUND}/observations/{{observation_id}}/accept"): Case(frozenset({C}), body=_reason),
    ("GET", f"{ROUND}/institutions/{{code}}/lines"): Case(DEMAND_READ, scope="institution"),
    ("PUT", f"{ROUND}/institutions/{{code}}/lines/{{clave}}"): Case(
        DEMAND_WRITE, scope="institution", body=_line
    ),
    ("POST", f"{ROUND}/institutions/{{code}}/submit"): Case(DEMAND_WRITE, scope="institution"),
    ("GET", f"{ROUND}/institutions/{{code}}/sheet.xlsx"): Case(DEMAND_READ, scope="institution"),
    ("POST", f"{ROUND}/institutions/{{code}}/sheet"): Case(
        DEMAND_WRITE, scope="institution", body=_sheet
    ),
    ("GET", f"{ROUND}/consolidated"): Case(DEMAND_READ),
    ("GET", f"{ROUND}/consolidated.xlsx"): Case(DEMAND_READ),
    ("GET", f"{ROUND}/consolidated.csv"): Case(DEMAND_READ),
    ("GET", f"{ROUND}/consolidated.parquet"): Case(DEMAND_READ),
    ("POST", f"{ROUND}/forecast"): Case(frozenset({C})),
    ("POST", f"{ROUND}/institutions/{{code}}/forecast"): Case(DEMAND_WRITE, scope="institution"),
    ("PUT", f"{ROUND}/deadline"): Case(frozenset({C}), body=_deadline),
    ("GET", f"{ROUND}/flags"): Case(DEMAND_READ),
    ("POST", "/api/v1/demand/consumption/imports"): Case(frozenset({C})),
    ("POST", "/api/v1/demand/institution-names"): Case(frozenset({C})),
    ("GET", "/demanda"): Case(DEMAND_READ),
    ("POST", "/demanda"): Case(frozenset({C})),
    ("GET", "/demanda/{round_name}"): Case(DEMAND_READ),
    ("POST", "/demanda/{round_name}/congelar"): Case(frozenset({C})),
    ("POST", "/demanda/{round_name}/reabrir"): Case(frozenset({C})),
    ("POST", "/demanda/{round_name}/importar"): Case(frozenset({C})),
    ("POST", "/demanda/{round_name}/observaciones/{observation_id}/aceptar"): Case(frozenset({C})),
    ("GET", "/demanda/{round_name}/consolidado"): Case(DEMAND_READ),
    ("GET", "/demanda/{round_name}/consolidado/{clave}"): Case(DEMAND_READ),
    ("GET", "/demanda/{round_name}/{code}"): Case(DEMAND_READ, scope="institution"),
    ("PUT", "/demanda/{round_name}/{code}/lineas/{clave}"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", "/demanda/{round_name}/{code}/hoja"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", "/demanda/{round_name}/{code}/enviar"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", "/demanda/{round_name}/{code}/pronosticos"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", "/demanda/{round_name}/plazo"): Case(frozenset({C})),
    ("GET", "/api/v1/tenders"): Case(PUBLIC),
    ("POST", "/api/v1/tenders"): Case(frozenset({C})),
    ("GET", TENDER): Case(PUBLIC),
    ("GET", f"{TENDER}/partidas"): Case(PUBLIC),
    ("GET", f"{TENDER}/template.xlsx"): Case(PUBLIC),
    ("POST", f"{TENDER}/publish"): Case(frozenset({C})),
    ("GET", f"{TENDER}/amendments"): Case(PUBLIC),
    ("POST", f"{TENDER}/amendments"): Case(frozenset({C})),
    ("POST", f"{TENDER}/cancel"): Case(frozenset({C})),
    ("PATCH", TENDER): Case(frozenset({C}), body=_draft_edit),
    ("POST", f"{TENDER}/suspend"): Case(frozenset({C})),
    ("POST", f"{TENDER}/resume"): Case(frozenset({C})),
    ("POST", f"{TENDER}/partidas/{{number}}/desierta"): Case(frozenset({C})),
    ("GET", f"{TENDER}/questions"): Case(PUBLIC),
    ("POST", f"{TENDER}/questions"): Case(frozenset({P})),
    ("POST", f"{TENDER}/questions/{{number}}/answer"): Case(frozenset({C})),
    ("GET", f"{TENDER}/bids"): Case(PUBLIC),
    ("POST", f"{TENDER}/bids"): Case(frozenset({P}), body=_bid_json),
    ("POST", f"{TENDER}/bids/sheet"): Case(frozenset({P})),
    ("GET", f"{TENDER}/bids/mine"): Case(frozenset({P})),
    ("PUT", f"{TENDER}/bids/{{bid_id}}"): Case(frozenset({P}), body=_bid_json),
    ("DELETE", f"{TENDER}/bids/{{bid_id}}"): Case(frozenset({P})),
    ("POST", f"{TENDER}/opening"): Case(frozenset({C})),
    ("GET", f"{TENDER}/live"): Case(PUBLIC),
    ("POST", "/api/v1/prices/imports"): Case(frozenset({C})),
    ("GET", f"{TENDER}/references"): Case(PUBLIC),
    ("GET", f"{TENDER}/evaluations"): Case(frozenset({C, E, A})),
    ("POST", f"{TENDER}/evaluations"): Case(frozenset({E})),
    ("GET", f"{TENDER}/evaluations/template.xlsx"): Case(frozenset({C, E, A})),
    ("POST", f"{TENDER}/evaluations/sheet"): Case(frozenset({E})),
    ("POST", f"{TENDER}/fallo"): Case(frozenset({C})),
    ("GET", f"{TENDER}/fallo"): Case(PUBLIC),
    ("GET", f"{TENDER}/fallo/preview"): Case(frozenset({C})),
    ("GET", f"{TENDER}/contract-drafts"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/fallo"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/fallo/documento"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/fallo.pdf"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/contratos"): Case(PUBLIC),
    ("GET", "/evaluacion/licitaciones/{tender_id}"): Case(frozenset({C, E, A})),
    ("POST", "/evaluacion/licitaciones/{tender_id}/veredictos"): Case(frozenset({E})),
    ("POST", "/evaluacion/licitaciones/{tender_id}/hoja"): Case(frozenset({E})),
    ("GET", "/precios/importar"): Case(frozenset({C})),
    ("POST", "/precios/importar"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/fallo"): Case(frozenset({C})),
    ("GET", f"{MANAGE}/fallo"): Case(frozenset({C})),
    ("GET", "/licitaciones"): Case(PUBLIC),
    ("GET", "/licitaciones/nueva"): Case(frozenset({C})),
    ("POST", "/licitaciones/nueva"): Case(frozenset({C})),
    ("GET", "/licitaciones/{tender_id}"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/apertura"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/acta"): Case(PUBLIC),
    ("GET", "/licitaciones/{tender_id}/acta.pdf"): Case(PUBLIC),
    ("GET", "/proveedor/licitaciones"): Case(frozenset({P})),
    ("POST", f"{MINE}/proposiciones"): Case(frozenset({P})),
    ("GET", f"{MINE}/proposiciones/{{bid_id}}"): Case(frozenset({P})),
    ("POST", f"{MINE}/proposiciones/{{bid_id}}/retirar"): Case(frozenset({P})),
    ("POST", f"{MINE}/preguntas"): Case(frozenset({P})),
    ("GET", MANAGE): Case(frozenset({C})),
    ("POST", f"{MANAGE}/publicar"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/borrador"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/modificar"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/cancelar"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/suspender"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/reanudar"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/desierta"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/preguntas/{{number}}/responder"): Case(frozenset({C})),
    ("POST", f"{MANAGE}/apertura"): Case(frozenset({C})),
    ("GET", "/api/v1/ocds/releases"): Case(PUBLIC),
    ("GET", "/api/v1/ocds/records/{ocid}"): Case(PUBLIC),
    ("GET", "/api/v1/ocds/policy"): Case(PUBLIC),
    ("GET", "/datos-abiertos"): Case(PUBLIC),
    ("GET", "/datos-abiertos/datapackage.json"): Case(PUBLIC),
    # Every file of every open data table is public (transparency/opendata/tables.py).
    **{
        ("GET", f"/datos-abiertos/{table.name}.{fmt}"): Case(PUBLIC)
        for table in TABLES
        for fmt in FORMATS
    },
    ("GET", "/api/v1/claves/{clave}/price-history"): Case(PUBLIC),
    ("GET", "/api/v1/suppliers/{rfc}/summary"): Case(PUBLIC),
    ("GET", "/api/v1/institutions/{code}/summary"): Case(PUBLIC),
    ("GET", "/api/v1/redflags"): Case(PUBLIC),
    ("GET", "/api/v1/redflags/indicators"): Case(PUBLIC),
    ("GET", "/banderas"): Case(PUBLIC),
    # Contracts: the ids do not exist, so scope is checked in tests/contracts, not here.
    ("POST", "/api/v1/tenders/{tender_id}/contracts"): Case(frozenset({C}), body=_empty),
    ("GET", "/api/v1/contracts"): Case(CONTRACT_READ),
    ("GET", "/api/v1/contracts/{contract_id}"): Case(CONTRACT_READ),
    ("GET", "/api/v1/contracts/{contract_id}/document.pdf"): Case(CONTRACT_READ),
    ("POST", "/api/v1/contracts/{contract_id}/signatures"): Case(CONTRACT_PARTY, body=_signature),
    ("POST", "/api/v1/contracts/{contract_id}/guarantee"): Case(CONTRACT_PARTY, body=_guarantee),
    ("POST", "/api/v1/contracts/{contract_id}/guarantee-exemption"): Case(
        DEMAND_WRITE, body=_reason
    ),
    ("POST", "/api/v1/contracts/{contract_id}/convenios"): Case(DEMAND_WRITE, body=_reason),
    ("GET", "/api/v1/contracts/{contract_id}/penalties"): Case(CONTRACT_READ),
    ("POST", "/api/v1/contracts/{contract_id}/orders"): Case(DEMAND_WRITE, body=_order),
    ("GET", "/api/v1/orders"): Case(CONTRACT_READ),
    ("POST", "/api/v1/orders/imports"): Case(DEMAND_WRITE),
    ("GET", "/api/v1/orders/import-template"): Case(DEMAND_WRITE),
    ("GET", "/api/v1/orders.csv"): Case(CONTRACT_READ),
    ("POST", "/api/v1/orders/{order_id}/confirmation"): Case(SUPPLIER_WRITE),
    ("POST", "/api/v1/orders/{order_id}/shipments"): Case(SUPPLIER_WRITE, body=_shipment),
    ("POST", "/api/v1/orders/{order_id}/closure"): Case(DEMAND_WRITE, body=_reason),
    ("POST", "/api/v1/shipments/{shipment_id}/receipt"): Case(DEMAND_WRITE, body=_shipment_receipt),
    ("GET", "/api/v1/fill-rate"): Case(PUBLIC),
    ("GET", "/api/v1/fill-rate.csv"): Case(PUBLIC),
    ("GET", "/surtimiento"): Case(PUBLIC),
    ("GET", "/contratos"): Case(CONTRACT_READ),
    ("GET", "/contratos/{contract_id}"): Case(CONTRACT_READ),
    ("POST", "/contratos/{contract_id}/firmar"): Case(CONTRACT_PARTY),
    ("POST", "/contratos/{contract_id}/garantia"): Case(CONTRACT_PARTY),
    ("POST", "/contratos/{contract_id}/ordenes"): Case(DEMAND_WRITE),
    ("GET", "/ordenes"): Case(CONTRACT_READ),
    ("GET", "/ordenes/importar"): Case(DEMAND_WRITE),
    ("POST", "/ordenes/importar"): Case(DEMAND_WRITE),
    ("GET", "/ordenes/importar/plantilla.xlsx"): Case(DEMAND_WRITE),
    ("GET", "/ordenes/{order_id}"): Case(CONTRACT_READ),
    ("POST", "/ordenes/{order_id}/confirmar"): Case(SUPPLIER_WRITE),
    ("POST", "/ordenes/{order_id}/envios"): Case(SUPPLIER_WRITE),
    ("POST", "/envios/{shipment_id}/recepcion"): Case(DEMAND_WRITE),
    ("GET", INVENTORY_UNIT + "/stock"): Case(DEMAND_READ, scope="institution"),
    ("GET", INVENTORY_UNIT + "/indicators"): Case(DEMAND_READ, scope="institution"),
    ("POST", INVENTORY_UNIT + "/dispensings"): Case(
        DEMAND_WRITE, scope="institution", body=_dispensing
    ),
    ("POST", INVENTORY_UNIT + "/receipts"): Case(DEMAND_WRITE, scope="institution", body=_receipt),
    ("POST", INVENTORY_UNIT + "/counts"): Case(DEMAND_WRITE, scope="institution", body=_count),
    ("POST", INVENTORY_UNIT + "/adjustments"): Case(
        DEMAND_WRITE, scope="institution", body=_adjustment
    ),
    ("POST", INVENTORY_UNIT + "/expired"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", INVENTORY_UNIT + "/uploads"): Case(
        DEMAND_WRITE, scope="institution", body=_movements_csv
    ),
    ("GET", "/api/v1/inventory/upload-template"): Case(PUBLIC),
    ("POST", "/api/v1/inventory/transfers"): Case(
        DEMAND_WRITE, scope="institution", body=_transfer
    ),
    ("POST", "/api/v1/inventory/transfers/{transfer_id}/issue"): Case(DEMAND_WRITE, body=_version),
    ("POST", "/api/v1/inventory/transfers/{transfer_id}/receive"): Case(DEMAND_WRITE),
    ("POST", "/api/v1/inventory/transfers/{transfer_id}/cancel"): Case(DEMAND_WRITE),
    ("POST", "/api/v1/inventory/snapshots"): Case(frozenset({C})),
    ("GET", "/api/v1/inventory/abasto"): Case(PUBLIC),
    ("GET", "/inventario"): Case(DEMAND_READ),
    ("GET", "/inventario/{code}/{unit}"): Case(DEMAND_READ, scope="institution"),
    ("POST", "/inventario/{code}/{unit}/recibir"): Case(
        DEMAND_WRITE, scope="institution", body=_receipt_form
    ),
    ("POST", "/inventario/{code}/{unit}/dispensar"): Case(
        DEMAND_WRITE, scope="institution", body=_dispensing_form
    ),
    ("GET", "/inventario/{code}/{unit}/contar"): Case(
        DEMAND_WRITE, scope="institution", body=_count_query
    ),
    ("POST", "/inventario/{code}/{unit}/contar"): Case(
        DEMAND_WRITE, scope="institution", body=_count_form
    ),
    ("POST", "/inventario/{code}/{unit}/transferir"): Case(
        DEMAND_WRITE, scope="institution", body=_transfer_form
    ),
    ("POST", "/inventario/{code}/{unit}/caducados"): Case(DEMAND_WRITE, scope="institution"),
    ("POST", "/inventario/{code}/{unit}/transferencias/{transfer_id}/{step}"): Case(
        DEMAND_WRITE, scope="institution"
    ),
    ("GET", "/abasto"): Case(PUBLIC),
    ("GET", "/abasto/{code}"): Case(PUBLIC),
    ("GET", "/abasto/{code}/{unit}"): Case(PUBLIC),
    ("GET", "/api/v1/inventory/transfers"): Case(DEMAND_READ),
    ("POST", "/api/v1/inventory/redistributions"): Case(frozenset({C}), body=_redistribution),
    ("GET", "/inventario/transferencias"): Case(DEMAND_READ),
    ("POST", "/inventario/transferencias"): Case(frozenset({C}), body=_redistribution_form),
}

SAMPLE_PATH_VALUES = {
    "clave": CLAVE,
    "code": "IMSS",
    "rfc": HOME_RFC,
    "round_name": "2027-2028",
    "tender_id": "999999",
    "rename_id": "999999",
    "observation_id": "999999",
    "number": "1",
    "bid_id": "0" * 32,
    "ocid": "ocds-abasto-AB-2026-0001",
    "seq": "1",
    "unit_code": "IMSS-ALM",
    "contract_id": "999999",
    "order_id": "999999",
    "shipment_id": "999999",
    "unit": "HGZ-1",
    "transfer_id": "999999",
    "step": "emitir",
}


def _routes(client: TestClient) -> dict[tuple[str, str], APIRoute]:
    """Every API route with its full path, included routers' ones too."""
    found = {}
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, APIRoute) and context.path and context.methods:
            for method in context.methods - {"HEAD"}:
                found[(method, context.path)] = route
    return found


def _declared_policy(route: APIRoute) -> frozenset[Role] | None:
    policies = [
        policy_roles(dep.call)
        for dep in route.dependant.dependencies
        if policy_roles(dep.call) != "none"
    ]
    assert len(policies) == 1, f"{route.path} must depend on exactly one policy, has {policies}"
    declared = policies[0]
    assert declared != "none"
    return declared  # type: ignore[return-value]


def test_every_route_declares_the_policy_the_matrix_states(client: TestClient) -> None:
    routes = _routes(client)
    assert set(routes) == set(MATRIX), (
        f"routes without a row in MATRIX: {sorted(set(routes) - set(MATRIX))}; "
        f"rows without a route: {sorted(set(MATRIX) - set(routes))}"
    )
    for key, route in routes.items():
        assert _declared_policy(route) == MATRIX[key].roles, key


PRINCIPALS: dict[str, tuple[Role | None, str | None, str | None]] = {
    "anonimo": (None, None, None),
    "comprador": (C, None, None),
    "institucion": (INST, "IMSS", None),
    "proveedor": (P, None, HOME_RFC),
    "evaluador": (E, None, None),
    "auditor": (A, None, None),
    "institucion-ajena": (INST, "ISSSTE", None),
    "proveedor-ajeno": (P, None, OTHER_RFC),
}


@pytest.fixture
def world(ctx: Context) -> Context:
    """IMSS and ISSSTE, the HOME and another supplier, a clave, and one user per principal."""
    identity.register_institution(
        ctx, code="IMSS", name="Instituto Mexicano del Seguro Social", kind="x"
    )
    identity.register_institution(ctx, code="ISSSTE", name="ISSSTE", kind="x")
    identity.register_supplier(
        ctx, rfc=HOME_RFC, razon_social="Farmacéutica de Prueba, S.A. de C.V."
    )
    identity.register_supplier(ctx, rfc=OTHER_RFC, razon_social="Distribuidora Ajena, S.A. de C.V.")
    catalog.import_catalog(
        ctx,
        content=f"Clave,Descripción\n{CLAVE},Paracetamol. Tableta 500 mg.\n".encode(),
        filename="catalogo.csv",
    )
    for name, (role, institution, supplier) in PRINCIPALS.items():
        if role is not None:
            identity.create_user(
                ctx,
                username=name,
                full_name=name,
                password=PASSWORD,
                role=role,
                institution_code=institution,
                supplier_rfc=supplier,
            )
    ctx.db.commit()
    return ctx


def _token(ctx: Context, username: str) -> str:
    """A fresh token per request: some admitted requests revoke the one they used."""
    user = ctx.db.scalars(select(User).where(User.username == username)).one()
    secret = identity.issue_credential(ctx, user=user, kind="token", ttl=timedelta(days=1))
    ctx.db.commit()
    return secret


def _expected(case: Case, principal: str, role: Role | None) -> str:
    if case.roles is PUBLIC:
        return "admitted"
    if role is None:
        return "401"
    if role not in case.roles:
        return "403"
    if case.scope and principal.endswith(("ajena", "ajeno")):
        return "403"
    return "admitted"


@pytest.mark.parametrize("principal", sorted(PRINCIPALS))
def test_routes_admit_and_refuse_as_stated(
    principal: str, client: TestClient, world: Context
) -> None:
    role = PRINCIPALS[principal][0]
    failures = {}
    for (method, template), case in sorted(MATRIX.items()):
        path = template.format(**SAMPLE_PATH_VALUES)
        headers = {"Authorization": f"Bearer {_token(world, principal)}"} if role else {}
        client.cookies.clear()
        body = case.body() if case.body else {}
        headers |= body.pop("headers", {})
        response = client.request(method, path, headers=headers, follow_redirects=False, **body)
        expected = _expected(case, principal, role)
        if expected == "admitted":
            ok = response.status_code not in (401, 403) and response.status_code < 500
        else:
            ok = response.status_code == int(expected)
        if not ok:
            failures[f"{method} {path}"] = (expected, response.status_code, response.text[:200])
    assert not failures, failures
