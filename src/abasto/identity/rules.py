"""Identity rules: RFC, razón social and state checks, company names, reference tables."""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.text import fold, strip_accents

# SAT's character values for the RFC check digit: 0-9 → 0-9, A → 10 … N → 23, & → 24,
# O → 25 … Z → 36, space → 37, Ñ → 38.
_CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ"
_RFC_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZÑ&")
_HOMOCLAVE = re.compile(r"[0-9A-Z]{2}")

RFC_EXPECTED = (
    "12 caracteres para persona moral (AAA + AAMMDD + homoclave) "
    "o 13 para persona física (AAAA + AAMMDD + homoclave), p. ej. CFE370814QI0"
)
# SAT's generic RFCs stand for "whoever" in an invoice; they identify nobody.
GENERIC_RFCS = {
    "XAXX010101000": "el RFC genérico para operaciones con el público en general",
    "XEXX010101000": "el RFC genérico para residentes en el extranjero",
}

RAZON_SOCIAL_MIN = 2
# CFDI 4.0 caps the issuer's and receiver's name at 254 characters.
RAZON_SOCIAL_MAX = 254


def rfc_check_digit(first_chars: str) -> str:
    """The SAT check digit of an RFC given its first 11 (moral) or 12 (física) characters."""
    if len(first_chars) not in (11, 12):
        raise ValueError(f"an RFC without its check digit has 11 or 12 characters: {first_chars!r}")
    unknown = set(first_chars) - set(_CHECK_ALPHABET)
    if unknown:
        raise ValueError(f"characters outside SAT's RFC alphabet: {sorted(unknown)}")
    padded = first_chars.rjust(12)
    total = sum(_CHECK_ALPHABET.index(ch) * (13 - i) for i, ch in enumerate(padded))
    return _CHECK_ALPHABET[(11 - total % 11) % 11]


def make_rfc(prefix: str, born: datetime.date, homoclave: str) -> str:
    """A valid RFC from its letters (3 moral, 4 física), date and 2-character homoclave."""
    if len(prefix) not in (3, 4) or len(homoclave) != 2:
        raise ValueError(f"prefix of 3 or 4 letters and homoclave of 2: {prefix!r}, {homoclave!r}")
    first = f"{prefix.upper()}{born:%y%m%d}{homoclave.upper()}"
    return first + rfc_check_digit(first)


def clean_rfc(value: str) -> str:
    """The compact form people mean: no surrounding or inner spaces, no hyphens, upper case."""
    # NFC joins an "N" + combining tilde typed on some keyboards into the one "Ñ" SAT uses.
    text = unicodedata.normalize("NFC", value).upper()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "-‐‑–")


def rfc_problems(
    value: str, *, allow_generic: bool = False, check_digit: bool = True
) -> list[Problem]:
    """Everything wrong with an RFC (empty when it is valid), each naming the faulty part."""
    rfc = clean_rfc(value)

    def problem(message: str, expected: str = RFC_EXPECTED) -> Problem:
        return Problem(message=message, field="rfc", value=value, expected=expected)

    if not rfc:
        return [problem("El RFC está vacío.")]
    if rfc in GENERIC_RFCS:
        if allow_generic:
            return []
        return [
            problem(
                f"{rfc} es {GENERIC_RFCS[rfc]}; no identifica a un proveedor.",
                "el RFC propio del proveedor, tal como aparece en su Constancia de "
                "Situación Fiscal",
            )
        ]
    leading = len(rfc) - len(rfc.lstrip("".join(_RFC_LETTERS)))
    if len(rfc) not in (12, 13):
        return [problem(f"El RFC tiene {len(rfc)} caracteres.")]
    if len(rfc) == 12 and leading == 4:
        return [
            problem(
                "El RFC empieza con 4 letras, como el de una persona física, "
                "pero tiene 12 caracteres."
            )
        ]
    if len(rfc) == 13 and leading == 3:
        return [
            problem(
                "El RFC empieza con 3 letras, como el de una persona moral, "
                "pero tiene 13 caracteres."
            )
        ]

    n_letters = len(rfc) - 9
    letters, digits, homoclave = rfc[:n_letters], rfc[n_letters:-3], rfc[-3:-1]
    kind = "persona moral" if n_letters == 3 else "persona física"
    problems: list[Problem] = []
    if not all(ch in _RFC_LETTERS for ch in letters):
        problems.append(
            problem(
                f"Las {n_letters} letras iniciales «{letters}» contienen caracteres no permitidos.",
                f"{n_letters} letras (A-Z, Ñ o &) para {kind}",
            )
        )
    if not (digits.isascii() and digits.isdigit()):
        problems.append(
            problem(f"La fecha «{digits}» no está formada por 6 dígitos.", "fecha AAMMDD")
        )
    elif _rfc_date(digits) is None:
        problems.append(
            problem(
                f"La fecha «{digits}» no existe en el calendario.",
                "fecha AAMMDD real (mes 01-12, día válido para ese mes)",
            )
        )
    if not _HOMOCLAVE.fullmatch(homoclave):
        problems.append(
            problem(
                f"La homoclave «{homoclave}» contiene caracteres no permitidos.",
                "homoclave de 2 letras (A-Z) o dígitos",
            )
        )
    if problems or not check_digit:
        return problems
    expected_digit = rfc_check_digit(rfc[:-1])
    if rfc[-1] != expected_digit:
        problems.append(
            problem(
                f"El dígito verificador «{rfc[-1]}» no corresponde al resto del RFC "
                f"(el cálculo del SAT da «{expected_digit}»); "
                "revise si hay un carácter mal escrito.",
                "el RFC tal como aparece en la Constancia de Situación Fiscal",
            )
        )
    return problems


def validate_rfc(value: str, *, allow_generic: bool = False, check_digit: bool = True) -> str:
    """The RFC in compact form, or ``ValidationFailed`` saying which part is wrong.

    Supplier registration keeps the defaults: the generic RFCs are refused and the check digit
    is verified. SAT has issued a small share of RFCs whose check digit fails the published
    algorithm; ``check_digit=False`` exists so a reviewed exception can still be recorded.
    """
    problems = rfc_problems(value, allow_generic=allow_generic, check_digit=check_digit)
    if problems:
        raise ValidationFailed(f"El RFC «{value.strip()}» no es válido.", problems=problems)
    return clean_rfc(value)


def _rfc_date(digits: str) -> datetime.date | None:
    # The century is not in the RFC; 2000 + YY accepts 29 February of year 00 (2000 was leap),
    # and every other YY is leap in both centuries or in neither.
    try:
        return datetime.date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None


def razon_social_problems(value: str) -> list[Problem]:
    """What is wrong with a razón social (empty list when acceptable)."""
    name = clean_razon_social(value)
    expected = (
        f"la denominación o razón social completa, de {RAZON_SOCIAL_MIN} a "
        f"{RAZON_SOCIAL_MAX} caracteres, como en la Constancia de Situación Fiscal"
    )
    if not name:
        message = "La razón social está vacía."
    elif len(name) > RAZON_SOCIAL_MAX:
        message = f"La razón social tiene {len(name)} caracteres."
    elif len(name) < RAZON_SOCIAL_MIN or not any(ch.isalnum() for ch in name):
        message = "La razón social es demasiado corta o no contiene letras ni dígitos."
    elif any(unicodedata.category(ch).startswith("C") for ch in name):
        message = "La razón social contiene caracteres de control o invisibles."
    else:
        return []
    return [Problem(message=message, field="razon_social", value=value, expected=expected)]


def validate_razon_social(value: str) -> str:
    """The razón social with spacing tidied, or ``ValidationFailed`` in Spanish."""
    problems = razon_social_problems(value)
    if problems:
        raise ValidationFailed("La razón social no es válida.", problems=problems)
    return clean_razon_social(value)


def clean_razon_social(value: str) -> str:
    """Surrounding spaces removed and inner runs of spaces collapsed; spelling kept."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def _abbr(letters: str) -> str:
    # "S.A.", "S. A." and "SA" fold to "s a" or "sa": letters with optional spaces between.
    return " ?".join(letters)


# Legal forms are read from the end of a folded name: any number of qualifiers ("de C.V.",
# "promotora de inversión") and then one base form ("S.A.", "sociedad anónima"). Weak bases
# ("S." of "S. de R.L.", a bare "sociedad") count only when a qualifier followed them, so that
# a name merely ending in "S" or "Sociedad" keeps its last word.
_QUALIFIERS = [
    f"de ?{_abbr('cv')}",
    # "S. de R.L. MI": sociedad de responsabilidad limitada microindustrial.
    _abbr("mi"),
    "microindustria(?:l)?",
    "de capital variable",
    f"de {_abbr('rl')}",
    f"de {_abbr('ri')}",
    f"de {_abbr('rs')}",
    "de responsabilidad (?:limitada|ilimitada|suplementada)",
    "promotora de inversion",
    "bursatil",
    _abbr("ibd"),
    "institucion de banca de desarrollo",
]
_BASES = [
    _abbr("sapib"),
    _abbr("sapi"),
    _abbr("sab"),
    _abbr("sas"),
    _abbr("sa"),
    _abbr("srl"),
    _abbr("spr"),
    _abbr("scl"),
    _abbr("sc"),
    _abbr("ac"),
    _abbr("iap"),
    _abbr("abp"),
    _abbr("snc"),
    "s en c(?: por a)?",
    f"s en {_abbr('nc')}",
    "sociedad anonima",
    "sociedad civil",
    "asociacion civil",
    "sociedad cooperativa",
    "sociedad de produccion rural",
    "sociedad por acciones simplificada",
    "sociedad en comandita (?:simple|por acciones)",
    "sociedad en nombre colectivo",
    "sociedad nacional de credito",
    "institucion de asistencia privada",
    "asociacion de beneficencia privada",
    # Foreign suppliers (vaccines, devices) keep their home country's form.
    "inc",
    "incorporated",
    _abbr("llc"),
    _abbr("ltda"),
    _abbr("ltd"),
    "limited",
    "corp",
    "corporation",
    "gmbh",
    "ag",
    "plc",
    _abbr("bv"),
    _abbr("nv"),
    _abbr("spa"),
    _abbr("sl"),
]
_WEAK_BASES = ["s", "sociedad"]


def _tail(alternatives: list[str]) -> re.Pattern[str]:
    return re.compile(rf" (?:{'|'.join(alternatives)})$")


_QUALIFIER_TAIL = _tail(_QUALIFIERS)
_BASE_TAIL = _tail(_BASES)
_WEAK_BASE_TAIL = _tail(_WEAK_BASES)


def strip_legal_form(folded: str) -> str:
    """A folded name without its trailing legal form (``fold`` it first); unchanged if none."""
    rest = folded
    qualified = False
    while match := _QUALIFIER_TAIL.search(rest):
        rest = rest[: match.start()]
        qualified = True
    base = _BASE_TAIL.search(rest) or (_WEAK_BASE_TAIL.search(rest) if qualified else None)
    if base is None or base.start() == 0:
        return folded
    return rest[: base.start()]


def normalize_company_name(name: str) -> str:
    """The key two spellings of one company share: no case, accents, punctuation, spacing or
    legal form, so "Farmacéutica Ñandú, S.A. de C.V." and "FARMACEUTICA NANDU SA DE CV" meet.
    """
    # "&" is read "y" in Spanish names ("A & B" is "A y B"); fold would otherwise drop it.
    folded = fold(name.replace("&", " y "))
    return strip_legal_form(folded).replace(" ", "")


_ALIAS = re.compile(r"\(([^()]*)\)")
# Separators between the parties of one name. "Y/O" always separates two names; ",", "Y" and
# "/" also occur inside names ("ASESORÍA, PROYECTOS Y CONSTRUCCIONES", "INDUSTRIAS UNI/FORMA"),
# so they separate only after a legal form.
_PARTY_SEPARATOR = re.compile(r"(\bY ?/ ?O\b|/|,|\bY\b)")
_ALWAYS_SEPARATES = re.compile(r"Y ?/ ?O")


def company_name_keys(name: str) -> tuple[str, ...]:
    """Every key a listed name answers to: the whole name, each company of a joint bid
    ("X, S.A. DE C.V. Y Z, S.A. DE C.V."), both sides of "Y/O", and a parenthesised alias.
    """
    text = strip_accents(unicodedata.normalize("NFC", name)).upper()
    aliases = _ALIAS.findall(text)
    pieces: list[str] = []
    current = ""
    for piece in _PARTY_SEPARATOR.split(_ALIAS.sub(" ", text)):
        if not _PARTY_SEPARATOR.fullmatch(piece):
            current += piece
        elif _ALWAYS_SEPARATES.fullmatch(piece) or _has_legal_form(current):
            pieces.append(current)
            current = ""
        else:
            current += f" {piece} " if current.strip() else ""
    pieces.append(current)
    # A piece that is only a legal form belongs to the name before it: "X CORPORATION, S.A. DE
    # C.V." is one company, and "S. DE R.L., MI." one legal form.
    parties: list[str] = []
    for piece in pieces:
        if parties and _is_legal_form_only(piece):
            parties[-1] += f" {piece}"
        else:
            parties.append(piece)
    parties = [*aliases, *parties]
    keys = [normalize_company_name(name)]
    if len(parties) > 1:
        keys.extend(normalize_company_name(party) for party in parties)
    return tuple(dict.fromkeys(key for key in keys if key))


def _has_legal_form(name: str) -> bool:
    folded = fold(name)
    return strip_legal_form(folded) != folded


def _is_legal_form_only(name: str) -> bool:
    """Nothing but legal-form words ("S.A. DE C.V.", "MI", "INC"), or nothing at all."""
    rest = " " + fold(name)
    while rest.strip():
        match = (
            _QUALIFIER_TAIL.search(rest) or _BASE_TAIL.search(rest) or _WEAK_BASE_TAIL.search(rest)
        )
        if match is None:
            return False
        rest = rest[: match.start()]
    return True


def is_acquittal(resolution: str | None) -> bool:
    """An "absolutoria" resolution: the list names the supplier, but it was cleared."""
    return fold(resolution or "").startswith("absolutori")


# ----- passwords -----------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
# Argon2 hashes whatever it is given: a cap keeps one request from buying seconds of CPU.
MAX_PASSWORD_LENGTH = 200
PASSWORD_EXPECTED = (
    f"de {MIN_PASSWORD_LENGTH} a {MAX_PASSWORD_LENGTH} caracteres, que no sea una contraseña "
    "común ni una serie de teclado o de dígitos; una frase de varias palabras sirve"
)
# Digits and symbols people add around a common word ("password1234", "!qwerty2026").
_PASSWORD_PADDING = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The list shipped with the package (``common_passwords.txt``), lower case."""
    text = files("abasto.identity").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """On the list, on it once the digits and symbols around it are removed, or one or two
    characters repeated: the first guesses of anyone trying passwords."""
    folded = unicodedata.normalize("NFKC", password).casefold()
    core = _PASSWORD_PADDING.sub("", folded)
    return folded in common_passwords() or core in common_passwords() or len(set(folded)) <= 2


def password_problems(password: str, *, username: str = "") -> list[Problem]:
    """What makes a password refusable (empty when acceptable); the password is never echoed."""

    def problem(message: str) -> Problem:
        return Problem(message, field="password", expected=PASSWORD_EXPECTED)

    if len(password) < MIN_PASSWORD_LENGTH:
        return [problem(f"La contraseña es demasiado corta: tiene {len(password)} caracteres.")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [problem(f"La contraseña es demasiado larga: tiene {len(password)} caracteres.")]
    if is_common_password(password):
        return [
            problem(
                "La contraseña es de las más usadas (figura en la lista de contraseñas comunes "
                "o es una serie de dígitos o de un solo carácter); se adivina en segundos."
            )
        ]
    name = username.strip().casefold()
    if len(name) >= 3 and name in password.casefold():
        return [problem("La contraseña contiene el nombre de usuario.")]
    return []


# ----- sign-in throttling ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottleLimit:
    """``failures`` failed sign-ins within ``window`` block the subject for ``block``."""

    failures: int
    window: datetime.timedelta
    block: datetime.timedelta


# One account: a person mistypes a few times; a guesser gets 5 tries per quarter hour.
ACCOUNT_LIMIT = ThrottleLimit(5, datetime.timedelta(minutes=15), datetime.timedelta(minutes=15))
# One address: an office behind one NAT has many users, so more; a sprayer trying one password
# on many accounts is still stopped.
ADDRESS_LIMIT = ThrottleLimit(20, datetime.timedelta(minutes=15), datetime.timedelta(minutes=15))


@dataclass(frozen=True, slots=True)
class Throttle:
    """Failed sign-ins of one account or address in the window that began at ``window_start``."""

    window_start: datetime.datetime
    failures: int
    refused: int = 0
    blocked_until: datetime.datetime | None = None

    def retry_after(self, now: datetime.datetime) -> int | None:
        """Whole seconds until a sign-in may be tried again, or None when not blocked."""
        if self.blocked_until is None or self.blocked_until <= now:
            return None
        return max(1, math.ceil((self.blocked_until - now).total_seconds()))

    def expired(self, now: datetime.datetime, limit: ThrottleLimit) -> bool:
        """The window is over and no block holds: the next failure starts afresh."""
        return self.retry_after(now) is None and now >= self.window_start + limit.window


def after_failure(
    throttle: Throttle | None, now: datetime.datetime, limit: ThrottleLimit
) -> Throttle:
    """The throttle after one more failed sign-in; the one that reaches the limit blocks."""
    if throttle is None or throttle.expired(now, limit):
        throttle = Throttle(window_start=now, failures=0)
    failures = throttle.failures + 1
    blocked = now + limit.block if failures >= limit.failures else throttle.blocked_until
    return replace(throttle, failures=failures, blocked_until=blocked)


# ----- reference tables ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """An entidad federativa with its INEGI code (``"01"``–``"32"``)."""

    code: str
    name: str
    short_name: str


STATES: tuple[State, ...] = (
    State("01", "Aguascalientes", "Aguascalientes"),
    State("02", "Baja California", "Baja California"),
    State("03", "Baja California Sur", "Baja California Sur"),
    State("04", "Campeche", "Campeche"),
    State("05", "Coahuila de Zaragoza", "Coahuila"),
    State("06", "Colima", "Colima"),
    State("07", "Chiapas", "Chiapas"),
    State("08", "Chihuahua", "Chihuahua"),
    State("09", "Ciudad de México", "Ciudad de México"),
    State("10", "Durango", "Durango"),
    State("11", "Guanajuato", "Guanajuato"),
    State("12", "Guerrero", "Guerrero"),
    State("13", "Hidalgo", "Hidalgo"),
    State("14", "Jalisco", "Jalisco"),
    State("15", "México", "Estado de México"),
    State("16", "Michoacán de Ocampo", "Michoacán"),
    State("17", "Morelos", "Morelos"),
    State("18", "Nayarit", "Nayarit"),
    State("19", "Nuevo León", "Nuevo León"),
    State("20", "Oaxaca", "Oaxaca"),
    State("21", "Puebla", "Puebla"),
    State("22", "Querétaro", "Querétaro"),
    State("23", "Quintana Roo", "Quintana Roo"),
    State("24", "San Luis Potosí", "San Luis Potosí"),
    State("25", "Sinaloa", "Sinaloa"),
    State("26", "Sonora", "Sonora"),
    State("27", "Tabasco", "Tabasco"),
    State("28", "Tamaulipas", "Tamaulipas"),
    State("29", "Tlaxcala", "Tlaxcala"),
    State("30", "Veracruz de Ignacio de la Llave", "Veracruz"),
    State("31", "Yucatán", "Yucatán"),
    State("32", "Zacatecas", "Zacatecas"),
)
STATES_BY_CODE: dict[str, State] = {s.code: s for s in STATES}
_STATES_BY_NAME = {fold(n): s.code for s in STATES for n in (s.name, s.short_name)} | {
    "cdmx": "09",
    "df": "09",
    "distrito federal": "09",
    "edomex": "15",
}


def state_name(code: str | None) -> str | None:
    """The state's official name from its INEGI code; None when absent or unknown."""
    state = STATES_BY_CODE.get(code or "")
    return state.name if state else None


STATE_EXPECTED = (
    "la clave INEGI de la entidad federativa (01 a 32) o su nombre, p. ej. 09 o Ciudad de México"
)


def parse_state(value: str | None) -> str | None:
    """The INEGI code of a state given as its code ("9", "09") or name ("CDMX", "Jalisco").

    None when blank; ``state_problems`` says why a non-blank value is not a state.
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        code = text.zfill(2)
        return code if code in STATES_BY_CODE else None
    return _STATES_BY_NAME.get(fold(text))


def state_problems(value: str | None) -> list[Problem]:
    if not (value or "").strip() or parse_state(value) is not None:
        return []
    return [
        Problem(
            "La entidad federativa no existe.", field="state", value=value, expected=STATE_EXPECTED
        )
    ]


# How units are grouped on an institution's page, in this order: (singular, plural).
UNIT_KINDS: dict[str, tuple[str, str]] = {
    "OOAD": ("OOAD", "OOAD"),
    "UMAE": ("UMAE", "UMAE"),
    "entidad": ("entidad", "entidades"),
    "hospital": ("hospital", "hospitales"),
    "unidad": ("unidad", "unidades"),
    "programa": ("programa", "programas"),
    "almacen": ("almacén", "almacenes"),
}


def unit_kind_label(kind: str, count: int = 2) -> str:
    """The Spanish name of a kind of unit for ``count`` of them: "1 almacén", "3 almacenes"."""
    singular, plural = UNIT_KINDS.get(kind, (kind, kind))
    return singular if count == 1 else plural


def unit_kind_order(kind: str) -> tuple[int, str]:
    order = list(UNIT_KINDS)
    return (order.index(kind) if kind in UNIT_KINDS else len(order), kind)
