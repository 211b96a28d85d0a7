from abasto.core.text import fold, strip_accents


def test_strip_accents_keeps_base_letters() -> None:
    assert strip_accents("Ácido acetilsalicílico, Ñuñoa, pingüino") == (
        "Acido acetilsalicilico, Nunoa, pinguino"
    )


def test_fold_makes_spellings_meet() -> None:
    assert fold("  CANTIDAD   MÍN. ") == fold("cantidad min") == "cantidad min"
    assert fold("S.A. DE  C.V.") == "s a de c v"


def test_clean_text_strips_every_bidi_control_and_nothing_else() -> None:
    from abasto.core.text import BIDI_CONTROLS, clean_text

    assert len(BIDI_CONTROLS) == 9
    trojan = "Farmacéutica \u202eSA\u202c \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068fin"
    assert clean_text(trojan) == "Farmacéutica SA x fin"
    kept = "Ñandú\u200b\u00a0—\u200f"  # zero-width space, nbsp, dash, RLM: not controls we strip
    assert clean_text(kept) == kept


def test_neutralise_cell_quotes_formula_text_and_keeps_numbers() -> None:
    from abasto.core.text import neutralise_cell, restore_cell

    for formula in ("=1+1", '=HYPERLINK("x")', "+52 55", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert neutralise_cell(formula) == "'" + formula
        assert restore_cell(str(neutralise_cell(formula))) == formula
    for kept in ("-5", "-12.50", "+3", "-", "=", "Paracetamol", "", " =1", "'=1"):
        assert neutralise_cell(kept) == kept
    for number in (-5, -1.5, 0, None):
        assert neutralise_cell(number) == number
