"""The abasto dashboard's pictures, as values the template draws in SVG (no tiles, no script):
a tile map of Mexico's 32 states (one square each, placed roughly where the state lies) and the
national abasto's trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from abasto.inventory.service import AbastoRow

STATE_NAMES = {
    "01": "Aguascalientes",
    "02": "Baja California",
    "03": "Baja California Sur",
    "04": "Campeche",
    "05": "Coahuila",
    "06": "Colima",
    "07": "Chiapas",
    "08": "Chihuahua",
    "09": "Ciudad de México",
    "10": "Durango",
    "11": "Guanajuato",
    "12": "Guerrero",
    "13": "Hidalgo",
    "14": "Jalisco",
    "15": "México",
    "16": "Michoacán",
    "17": "Morelos",
    "18": "Nayarit",
    "19": "Nuevo León",
    "20": "Oaxaca",
    "21": "Puebla",
    "22": "Querétaro",
    "23": "Quintana Roo",
    "24": "San Luis Potosí",
    "25": "Sinaloa",
    "26": "Sonora",
    "27": "Tabasco",
    "28": "Tamaulipas",
    "29": "Tlaxcala",
    "30": "Veracruz",
    "31": "Yucatán",
    "32": "Zacatecas",
}
"""INEGI's codes of the states (``Unit.state_code``)."""

_TILES = {
    "02": (0, 0, "BC"), "26": (1, 0, "SON"), "08": (2, 0, "CHIH"), "05": (3, 0, "COAH"),
    "19": (4, 0, "NL"), "28": (5, 0, "TAMS"), "03": (0, 1, "BCS"), "25": (1, 1, "SIN"),
    "10": (2, 1, "DGO"), "32": (3, 1, "ZAC"), "24": (4, 1, "SLP"), "18": (1, 2, "NAY"),
    "01": (2, 2, "AGS"), "11": (3, 2, "GTO"), "22": (4, 2, "QRO"), "13": (5, 2, "HGO"),
    "30": (6, 2, "VER"), "14": (1, 3, "JAL"), "16": (2, 3, "MICH"), "15": (3, 3, "MEX"),
    "09": (4, 3, "CDMX"), "29": (5, 3, "TLAX"), "21": (6, 3, "PUE"), "31": (8, 3, "YUC"),
    "06": (1, 4, "COL"), "12": (3, 4, "GRO"), "17": (4, 4, "MOR"), "20": (5, 4, "OAX"),
    "27": (6, 4, "TAB"), "04": (7, 4, "CAMP"), "23": (8, 4, "QROO"), "07": (6, 5, "CHIS"),
}  # fmt: skip
TILE = 46
GAP = 4
MAP_WIDTH = 9 * (TILE + GAP)
MAP_HEIGHT = 6 * (TILE + GAP)


@dataclass(frozen=True, slots=True)
class Tile:
    code: str
    name: str
    short: str
    x: int
    y: int
    share: Decimal | None
    fill: str


def colour(share: Decimal | None) -> str:
    """Green at 95 % or more of the claves with stock, amber from 80 %, red below; grey unknown."""
    if share is None:
        return "#d5dade"
    if share >= Decimal("0.95"):
        return "#2e8b57"
    if share >= Decimal("0.80"):
        return "#e0a526"
    return "#c8414b"


def state_map(shares: Mapping[str, Decimal | None]) -> list[Tile]:
    """One tile per state, coloured by its abasto (grey where no unit reported)."""
    return [
        Tile(
            code,
            STATE_NAMES[code],
            short,
            col * (TILE + GAP),
            row * (TILE + GAP),
            shares.get(code),
            colour(shares.get(code)),
        )
        for code, (col, row, short) in sorted(_TILES.items())
    ]


TREND_WIDTH = 600
TREND_HEIGHT = 160


def trend_svg(rows: Sequence[AbastoRow]) -> str:
    """The points of the abasto's trend as an SVG polyline's ``points`` (0 %–100 % high)."""
    shares = [r.abasto.share for r in rows]
    known = [(i, s) for i, s in enumerate(shares) if s is not None]
    if len(known) < 2:
        return ""
    step = TREND_WIDTH / (len(shares) - 1)
    return " ".join(
        f"{round(i * step, 1)},{round(TREND_HEIGHT - float(s) * TREND_HEIGHT, 1)}" for i, s in known
    )
