from abasto.core.text import fold, strip_accents


def test_strip_accents_keeps_base_letters() -> None:
    assert strip_accents("Ácido acetilsalicílico, Ñuñoa, pingüino") == (
        "Acido acetilsalicilico, Nunoa, pinguino"
    )


def test_fold_makes_spellings_meet() -> None:
    assert fold("  CANTIDAD   MÍN. ") == fold("cantidad min") == "cantidad min"
    assert fold("S.A. DE  C.V.") == "s a de c v"
