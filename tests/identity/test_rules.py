"""RFC validation, razón social and state checks, company-name normalisation, unit kinds."""

from __future__ import annotations

import datetime
from datetime import timedelta

import pytest

from abasto.core.errors import ValidationFailed
from abasto.identity import rules
from abasto.identity.rules import (
    RFC_EXPECTED,
    STATES_BY_CODE,
    clean_rfc,
    company_name_keys,
    is_acquittal,
    make_rfc,
    normalize_company_name,
    parse_state,
    rfc_check_digit,
    rfc_problems,
    state_problems,
    unit_kind_label,
    validate_razon_social,
    validate_rfc,
)

# RFCs published by their holders on invoices and public sites (all found in public code):
# CFE, IMSS, Telmex, SAT itself, Radiomóvil Dipsa (Telcel), and the persona física and persona
# moral examples of python-stdnum.
REAL_RFCS = [
    "CFE370814QI0",
    "IMS421231I45",
    "TME840315KT6",
    "SAT970701NN3",
    "RMO930215AM4",
    "MAB9307148T4",
    "GODE561231GR8",
]


def _rfc_error(value: str, **options: bool) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate_rfc(value, **options)
    return caught.value


def test_make_rfc_builds_valid_moral_and_fisica() -> None:
    moral = make_rfc("FNA", datetime.date(1998, 3, 15), "K2")
    fisica = make_rfc("gode", datetime.date(1956, 12, 31), "gr")
    assert moral == "FNA980315K2" + rfc_check_digit("FNA980315K2")
    assert len(moral) == 12
    assert fisica == "GODE561231GR8"
    assert validate_rfc(moral) == moral
    assert validate_rfc(fisica) == fisica


@pytest.mark.parametrize("rfc", REAL_RFCS)
def test_real_published_rfcs_validate(rfc: str) -> None:
    assert validate_rfc(rfc) == rfc
    assert rfc_check_digit(rfc[:-1]) == rfc[-1]


def test_check_digit_maps_ten_to_a() -> None:
    # Cemex's published RFC ends in the check digit "A" (value 10).
    assert rfc_check_digit("CEM880726UZ") == "A"


def test_check_digit_needs_11_or_12_known_characters() -> None:
    with pytest.raises(ValueError, match="11 or 12"):
        rfc_check_digit("CFE370814")
    with pytest.raises(ValueError, match="alphabet"):
        rfc_check_digit("CFE370814Q_")


def test_make_rfc_refuses_a_malformed_layout() -> None:
    with pytest.raises(ValueError, match="homoclave"):
        make_rfc("CFE", datetime.date(1937, 8, 14), "Q")
    with pytest.raises(ValueError, match="prefix"):
        make_rfc("CF", datetime.date(1937, 8, 14), "QI")


def test_wrong_check_digit_is_refused_with_the_expected_one() -> None:
    error = _rfc_error("CFE370814QI1")
    [problem] = error.problems
    assert problem.field == "rfc"
    assert problem.value == "CFE370814QI1"
    assert "dígito verificador «1»" in problem.message
    assert "«0»" in problem.message


def test_check_digit_can_be_waived_for_a_reviewed_exception() -> None:
    # SAT issued this one with a check digit that fails its own algorithm (python-stdnum).
    assert rfc_problems("VACE460910SX6")
    assert validate_rfc("VACE-460910-SX6", check_digit=False) == "VACE460910SX6"


@pytest.mark.parametrize("value", ["CFE370814QI", "CFE370814QI0X1", "C"])
def test_wrong_length_is_refused(value: str) -> None:
    error = _rfc_error(value)
    [problem] = error.problems
    assert f"tiene {len(value)} caracteres" in problem.message
    assert problem.expected == RFC_EXPECTED
    assert "12 caracteres para persona moral (AAA + AAMMDD + homoclave)" in str(error)


def test_fisica_missing_a_character_is_explained() -> None:
    [problem] = _rfc_error("GODE561231GR").problems
    assert "4 letras" in problem.message
    assert "12 caracteres" in problem.message


def test_empty_rfc_is_refused() -> None:
    [problem] = _rfc_error("   ").problems
    assert problem.message == "El RFC está vacío."


def test_impossible_date_is_refused() -> None:
    first = "ABC990230XY"
    error = _rfc_error(first + rfc_check_digit(first))
    [problem] = error.problems
    assert "990230" in problem.message
    assert "calendario" in problem.message


def test_leap_day_of_year_00_is_a_real_date() -> None:
    assert validate_rfc(make_rfc("ABC", datetime.date(2000, 2, 29), "XY"))


def test_every_faulty_part_is_reported_at_once() -> None:
    problems = rfc_problems("A1C991301X_0")
    messages = " ".join(problem.message for problem in problems)
    assert len(problems) == 3
    assert "«A1C»" in messages
    assert "«991301»" in messages
    assert "homoclave «X_»" in messages


def test_non_digit_date_is_refused() -> None:
    [problem] = rfc_problems("ABC99O230XY1")
    assert "6 dígitos" in problem.message
    assert problem.expected == "fecha AAMMDD"


@pytest.mark.parametrize(
    "value",
    ["cfe370814qi0", " CFE-370814-QI0 ", "cfe 370814 qi0", "CFE\u2011370814\u2011QI0"],
)
def test_lower_case_spaces_and_hyphens_are_normalised(value: str) -> None:
    assert clean_rfc(value) == "CFE370814QI0"
    assert validate_rfc(value) == "CFE370814QI0"


def test_enye_and_ampersand_take_part() -> None:
    rfc = make_rfc("ñañ", datetime.date(1985, 1, 31), "a1")
    assert rfc.startswith("ÑAÑ850131A1")
    assert validate_rfc(rfc.lower()) == rfc
    assert validate_rfc("S&C951211TQ1") == "S&C951211TQ1"


@pytest.mark.parametrize("generic", ["XAXX010101000", "XEXX010101000", "xaxx-010101-000"])
def test_generic_rfcs_are_refused_for_a_supplier(generic: str) -> None:
    [problem] = _rfc_error(generic).problems
    assert "genérico" in problem.message
    assert "Constancia de Situación Fiscal" in (problem.expected or "")


def test_generic_rfc_allowed_where_asked() -> None:
    assert validate_rfc("XEXX010101000", allow_generic=True) == "XEXX010101000"


def test_razon_social_is_tidied() -> None:
    assert validate_razon_social("  Farmacéutica   Ñandú,  S.A. de C.V. ") == (
        "Farmacéutica Ñandú, S.A. de C.V."
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "vacía"),
        ("   ", "vacía"),
        ("-", "demasiado corta"),
        ("A" * 255, "255 caracteres"),
        ("ACME\u200b S.A.", "invisibles"),
    ],
)
def test_bad_razon_social_is_refused_in_spanish(value: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_razon_social(value)
    [problem] = caught.value.problems
    assert problem.field == "razon_social"
    assert fragment in problem.message
    assert "razón social" in (problem.expected or "")


@pytest.mark.parametrize(
    "spelling",
    [
        "Farmacéutica Ñandú, S.A. de C.V.",
        "FARMACEUTICA NANDU SA DE CV",
        "Farmacéutica Ñandú S.A. DE  C.V.",
        "FARMACÉUTICA ÑANDÚ, S. A. DE C. V.",
        "farmaceutica nandu, s.a.de c.v.,",
        "FARMACEUTICA NANDU, S.A. DEC.V.",
        "FARMACEUTICA NANDU S.A.",
        "FARMACEUTICA NANDU, S. DE R.L. DE C.V.",
        "FARMACEUTICA NANDU S DE RL DE CV",
        "Farmacéutica Ñandú, S.A.P.I. de C.V.",
        "Farmacéutica Ñandú, S.A.B. de C.V.",
        "Farmacéutica Ñandú, S.C.",
        "Farmacéutica Ñandú, A.C.",
        "Farmacéutica Ñandú, S.P.R. de R.L.",
        "Farmacéutica Ñandú, Sociedad Anónima de Capital Variable",
        "Farmacéutica Ñandú, Sociedad de Responsabilidad Limitada de Capital Variable",
        "Farmacéutica Ñandú Sociedad Anónima Promotora de Inversión de C.V.",
        "Farmacéutica Ñandú, Inc.",
        "  farmacéutica   ñandú  ",
    ],
)
def test_spellings_of_one_company_meet(spelling: str) -> None:
    assert normalize_company_name(spelling) == "farmaceuticanandu"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("GRUPO A", "GRUPO A Y B"),
        ("GRUPO A, S.A. DE C.V.", "GRUPO A Y B, S.A. DE C.V."),
        ("LABORATORIOS PISA, S.A. DE C.V.", "LABORATORIOS PISA FARMACEUTICA, S.A. DE C.V."),
        ("GRUPO S", "GRUPO"),
        ("TECNOLOGIA SOCIEDAD", "TECNOLOGIA"),
    ],
)
def test_different_companies_do_not_collide(one: str, other: str) -> None:
    assert normalize_company_name(one) != normalize_company_name(other)


def test_a_bare_legal_form_is_kept_rather_than_emptied() -> None:
    assert normalize_company_name("S.A. de C.V.") == "sadecv"


def test_ampersand_reads_as_y() -> None:
    assert normalize_company_name("A & B, S.A.") == normalize_company_name("A Y B SA")


def test_joint_bid_answers_to_each_company() -> None:
    keys = company_name_keys(
        "GRUPO CONSTRUCTOR GLOBAL, S.A. DE C.V. Y  GRUPO INTEGRAL EN RECURSOS ENERGETICOS, "
        "S.A. DE C.V."
    )
    assert keys[1:] == ("grupoconstructorglobal", "grupointegralenrecursosenergeticos")


def test_y_o_slash_and_alias_split_parties() -> None:
    assert company_name_keys("MARÍA GUADALUPE ROCHA MOCTEZUMA Y/O MOBILIARIO INSTITUCIONAL")[
        1:
    ] == ("mariaguadaluperochamoctezuma", "mobiliarioinstitucional")
    assert "comercializadorademaquinaria" in company_name_keys(
        "AGC HOMES DE MÉXICO, S.A. DE C.V./COMERCIALIZADORA DE MAQUINARIA, S.A. DE C.V."
    )
    assert "dycca" in company_name_keys("DISEÑO Y CONSTRUCCION CIVIL, S.A. (DYCCA, S.A.)")


def test_commas_and_y_inside_one_name_do_not_split_it() -> None:
    assert company_name_keys("ASESORÍA, PROYECTOS Y CONSTRUCCIONES, S.A. DE C.V.") == (
        "asesoriaproyectosyconstrucciones",
    )


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        # "CORPORATION" is a legal form too: the ", S.A. DE C.V." after it is not a second party.
        (
            "DRILLING OPTIMIZATION CORPORATION, S.A. DE C.V.",
            ("drillingoptimizationcorporation",),
        ),
        # "MI" (microindustria) qualifies "S. de R.L."; it is no company of its own.
        ("ACTITUD POSITIVA EN TONER, S. DE R.L., MI.", ("actitudpositivaentoner",)),
        # A slash inside a name, with no legal form before it, does not split it.
        ("INDUSTRIAS UNI/FORMA, S.A. DE C.V.", ("industriasuniforma",)),
    ],
)
def test_a_legal_form_or_a_slash_alone_makes_no_party(name: str, keys: tuple[str, ...]) -> None:
    assert company_name_keys(name) == keys


def test_a_slash_after_a_legal_form_still_splits() -> None:
    assert company_name_keys("THE ODISSEUS GROUP, S.A. DE C.V. / CUEX, S.A.")[1:] == (
        "theodisseusgroup",
        "cuex",
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("09", "09"),
        ("9", "09"),
        ("Ciudad de México", "09"),
        ("CDMX", "09"),
        ("estado de mexico", "15"),
        ("Michoacán", "16"),
        ("  jalisco ", "14"),
        ("", None),
        (None, None),
    ],
)
def test_states_by_code_or_name(value: str | None, code: str | None) -> None:
    assert parse_state(value) == code
    assert state_problems(value) == []


@pytest.mark.parametrize("value", ["33", "00", "Texas", "Jal."])
def test_unknown_states_are_refused_with_what_was_expected(value: str) -> None:
    [problem] = state_problems(value)
    assert (problem.field, problem.value) == ("state", value)
    assert "01 a 32" in (problem.expected or "")


def test_the_32_states_have_their_inegi_codes() -> None:
    assert list(STATES_BY_CODE) == [f"{n:02d}" for n in range(1, 33)]


def test_acquittals_are_told_apart() -> None:
    assert is_acquittal("ABSOLUTORIA")
    assert is_acquittal(" absolutorio ")
    assert not is_acquittal("SANCIONATORIA CON MULTA E INHABILITACIÓN")
    assert not is_acquittal(None)


def test_unit_kinds_read_in_spanish() -> None:
    assert [unit_kind_label("almacen", n) for n in (1, 2)] == ["almacén", "almacenes"]
    assert unit_kind_label("OOAD", 35) == "OOAD"
    assert unit_kind_label("otro") == "otro"


# ----- passwords and sign-in throttling ------------------------------------------------------

T0 = datetime.datetime(2026, 11, 2, 16, 0, tzinfo=datetime.UTC)


def test_the_common_password_list_ships_with_the_package() -> None:
    common = rules.common_passwords()
    assert len(common) > 10_000
    assert {"123456", "password", "qwerty123456", "contrasena", "1234567890"} <= common


@pytest.mark.parametrize(
    "password",
    ["1234567890", "12345678901", "123456789012", "Password1234", "!qwerty123456", "zzzzzzzzzzzz"],
)
def test_weak_passwords_are_refused(password: str) -> None:
    [problem] = rules.password_problems(password)
    assert problem.field == "password"
    assert problem.value is None  # a password is never echoed back


@pytest.mark.parametrize(
    "password", ["abasto-demo-2026", "una frase larga y propia", "Tlacuache-verde-en-Oaxaca"]
)
def test_long_uncommon_passwords_pass(password: str) -> None:
    assert rules.password_problems(password, username="ana.lopez") == []


def test_a_throttle_blocks_at_the_limit_and_forgets_after_the_window() -> None:
    limit = rules.ThrottleLimit(3, timedelta(minutes=15), timedelta(minutes=10))
    throttle = None
    for _ in range(2):
        throttle = rules.after_failure(throttle, T0, limit)
    assert throttle is not None
    assert (throttle.failures, throttle.retry_after(T0)) == (2, None)

    blocked = rules.after_failure(throttle, T0 + timedelta(seconds=30), limit)

    assert blocked.retry_after(T0 + timedelta(seconds=30)) == 600
    assert blocked.retry_after(T0 + timedelta(seconds=629, microseconds=1)) == 1
    assert blocked.retry_after(T0 + timedelta(seconds=630)) is None
    # Failures spread wider than the window never add up to a block.
    spread = rules.after_failure(throttle, T0 + timedelta(minutes=15), limit)
    assert (spread.failures, spread.window_start) == (1, T0 + timedelta(minutes=15))
