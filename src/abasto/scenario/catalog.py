"""Generated claves of the Compendio Nacional de Insumos para la Salud, with reference prices."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from abasto.core.money import to_money
from abasto.scenario.institutions import Scale

Category = Literal["medicamento", "vacuna", "material_curacion", "radiologia", "laboratorio"]

GROUP_CATEGORY: dict[str, Category] = {
    "010": "medicamento",
    "040": "medicamento",
    "020": "vacuna",
    "060": "material_curacion",
    "070": "radiologia",
    "080": "laboratorio",
}

# The 2025-2026 consolidated purchase: 1,907 medicines (010 + 040), 37 vaccines, 1,750
# material de curación and 804 radiology and laboratory claves; 4,498 in all.
CLAVE_COUNTS: dict[Scale, dict[str, int]] = {
    "national": {"010": 1843, "040": 64, "020": 37, "060": 1750, "070": 134, "080": 670},
    "small": {"010": 124, "040": 4, "020": 4, "060": 117, "070": 9, "080": 45},
}

_MEDICINE_GROUPS = ("010", "020", "040")

# Share of claves that carry a CUCoP; the rest are new claves not yet mapped.
_CUCOP_SHARE = 0.96


@dataclass(frozen=True, slots=True)
class ClaveSpec:
    """One clave of the Compendio as the scenario offers it for purchase."""

    clave: str
    group: str
    category: Category
    name: str
    description: str
    presentation: str
    unit: str
    cucop: int | None
    reference_price: Decimal


# --- medicines -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Form:
    label: str
    content: str
    # (presentation, size relative to the smallest) — the size scales the price.
    packages: tuple[tuple[str, float], ...]


def _counted(template: str, sizes: Sequence[int]) -> tuple[tuple[str, float], ...]:
    return tuple((template.format(n=n), n / sizes[0]) for n in sizes)


def _listed(*items: str) -> tuple[tuple[str, float], ...]:
    return tuple((text, 1.0 + i * 0.8) for i, text in enumerate(items))


_FORMS: dict[str, _Form] = {
    "tableta": _Form(
        "Tableta",
        "Cada tableta contiene",
        _counted("Envase con {n} tabletas.", (10, 14, 20, 28, 30, 50, 100)),
    ),
    "tableta_lp": _Form(
        "Tableta de liberación prolongada",
        "Cada tableta de liberación prolongada contiene",
        _counted("Envase con {n} tabletas de liberación prolongada.", (10, 14, 28, 30)),
    ),
    "tableta_masticable": _Form(
        "Tableta masticable",
        "Cada tableta masticable contiene",
        _counted("Envase con {n} tabletas masticables.", (20, 28, 30)),
    ),
    "tableta_sublingual": _Form(
        "Tableta sublingual",
        "Cada tableta sublingual contiene",
        _counted("Envase con {n} tabletas sublinguales.", (10, 20, 40)),
    ),
    "comprimido": _Form(
        "Comprimido",
        "Cada comprimido contiene",
        _counted("Envase con {n} comprimidos.", (10, 14, 28, 30, 60)),
    ),
    "gragea": _Form(
        "Gragea",
        "Cada gragea contiene",
        _counted("Envase con {n} grageas.", (10, 20, 30, 50)),
    ),
    "capsula": _Form(
        "Cápsula",
        "Cada cápsula contiene",
        _counted("Envase con {n} cápsulas.", (7, 10, 15, 20, 28, 30, 60)),
    ),
    "capsula_lp": _Form(
        "Cápsula de liberación prolongada",
        "Cada cápsula de liberación prolongada contiene",
        _counted("Envase con {n} cápsulas de liberación prolongada.", (10, 20, 30)),
    ),
    "ampolleta": _Form(
        "Solución inyectable",
        "Cada ampolleta contiene",
        (
            ("Envase con 1 ampolleta con 2 ml.", 1.0),
            ("Envase con 3 ampolletas con 2 ml.", 3.0),
            ("Envase con 5 ampolletas con 2 ml.", 5.0),
            ("Envase con 6 ampolletas con 1 ml.", 6.0),
            ("Envase con 10 ampolletas con 2 ml.", 10.0),
            ("Envase con 50 ampolletas con 1 ml.", 50.0),
        ),
    ),
    "frasco_ampula": _Form(
        "Solución inyectable",
        "Cada frasco ámpula contiene",
        (
            ("Envase con 1 frasco ámpula con 10 ml.", 1.0),
            ("Envase con 1 frasco ámpula con 20 ml.", 1.3),
            ("Envase con 5 frascos ámpula con 10 ml.", 5.0),
            ("Envase con 10 frascos ámpula con 5 ml.", 10.0),
        ),
    ),
    "liofilizado": _Form(
        "Solución inyectable",
        "Cada frasco ámpula con liofilizado contiene",
        (
            ("Envase con 1 frasco ámpula.", 1.0),
            ("Envase con 1 frasco ámpula y 1 ampolleta con 10 ml de diluyente.", 1.1),
            ("Envase con 5 frascos ámpula y 5 ampolletas con 5 ml de diluyente.", 5.0),
            ("Envase con 10 frascos ámpula.", 10.0),
        ),
    ),
    "jeringa": _Form(
        "Solución inyectable",
        "Cada jeringa prellenada contiene",
        (
            ("Envase con 1 jeringa prellenada.", 1.0),
            ("Envase con 2 jeringas prellenadas.", 2.0),
            ("Envase con 6 jeringas prellenadas.", 6.0),
            ("Envase con 10 jeringas prellenadas.", 10.0),
        ),
    ),
    "pluma": _Form(
        "Solución inyectable",
        "Cada ml contiene",
        (
            ("Envase con 1 pluma precargada con 3 ml.", 1.0),
            ("Envase con 5 plumas precargadas con 3 ml.", 5.0),
            ("Envase con 5 cartuchos con 3 ml.", 4.5),
        ),
    ),
    "suspension_inyectable": _Form(
        "Suspensión inyectable",
        "Cada ml contiene",
        (
            ("Envase con 1 frasco ámpula con 5 ml.", 1.0),
            ("Envase con 1 frasco ámpula con 10 ml.", 1.8),
        ),
    ),
    "solucion_iv": _Form(
        "Solución inyectable",
        "Cada 100 ml contienen",
        (
            ("Envase con 100 ml.", 1.0),
            ("Envase con 250 ml.", 1.4),
            ("Envase con 500 ml.", 1.9),
            ("Envase con 1 000 ml.", 2.8),
        ),
    ),
    "suspension_oral": _Form(
        "Suspensión oral",
        "Cada 5 ml contienen",
        _counted("Envase con {n} ml y dosificador.", (60, 75, 100, 120, 240)),
    ),
    "solucion_oral": _Form(
        "Solución oral",
        "Cada ml contiene",
        _counted("Envase con {n} ml y gotero dosificador.", (15, 30, 60)),
    ),
    "jarabe": _Form(
        "Jarabe",
        "Cada 5 ml contienen",
        _counted("Envase con {n} ml.", (60, 100, 120, 240)),
    ),
    "crema": _Form(
        "Crema",
        "Cada 100 g contienen",
        _counted("Envase con {n} g.", (20, 30, 40, 60)),
    ),
    "unguento": _Form(
        "Ungüento",
        "Cada 100 g contienen",
        _counted("Envase con {n} g.", (5, 15, 30)),
    ),
    "gel": _Form(
        "Gel",
        "Cada 100 g contienen",
        _counted("Envase con {n} g.", (30, 60)),
    ),
    "oftalmica": _Form(
        "Solución oftálmica",
        "Cada ml contiene",
        _counted("Envase con gotero integral con {n} ml.", (5, 10, 15)),
    ),
    "aerosol": _Form(
        "Suspensión en aerosol",
        "Cada inhalación contiene",
        _counted("Envase con inhalador con {n} dosis.", (120, 200, 250)),
    ),
    "nebulizar": _Form(
        "Solución para nebulizador",
        "Cada ml contiene",
        (
            ("Envase con 10 ml.", 1.0),
            ("Envase con 20 ml.", 1.8),
            ("Envase con 20 ampolletas con 2.5 ml.", 4.0),
        ),
    ),
    "ovulo": _Form("Óvulo", "Cada óvulo contiene", _counted("Envase con {n} óvulos.", (6, 10, 14))),
    "supositorio": _Form(
        "Supositorio",
        "Cada supositorio contiene",
        _counted("Envase con {n} supositorios.", (3, 5, 6, 10)),
    ),
    "parche": _Form(
        "Parche", "Cada parche contiene", _counted("Envase con {n} parches.", (4, 5, 7, 30))
    ),
    "nasal": _Form(
        "Suspensión para aplicación nasal",
        "Cada nebulización contiene",
        _counted("Envase con nebulizador para {n} dosis.", (60, 120, 140)),
    ),
    "liquido_inhalacion": _Form(
        "Líquido para inhalación",
        "Cada envase contiene",
        _listed("Envase con frasco.", "Envase con frasco y adaptador para vaporizador."),
    ),
    "implante": _Form(
        "Implante",
        "Cada implante contiene",
        _listed("Envase con una jeringa con un implante."),
    ),
    "polvo_oral": _Form(
        "Polvo para solución oral",
        "Cada sobre contiene",
        (
            ("Envase con 1 sobre.", 1.0),
            ("Envase con 20 sobres.", 20.0),
            ("Envase con 50 sobres.", 50.0),
        ),
    ),
}

# One drug per line: name | active ingredient as the description words it ("{0}", "{1}" stand
# for the parts of a strength such as "500 mg/125 mg"; empty means the name in lower case)
# | form:strength,strength;form:strength. An indented line continues the one above. A "##"
# line opens a section: group, median price of its smallest package in MXN, and a label.
_MEDICINES = """
## 010 45 analgesia y antiinflamatorios
Paracetamol||tableta:500 mg;supositorio:100 mg,300 mg;solucion_oral:100 mg;frasco_ampula:1 g
Ácido acetilsalicílico||tableta:100 mg,500 mg
Metamizol sódico||comprimido:500 mg;ampolleta:1 g
Ketorolaco|ketorolaco trometamina|tableta:10 mg;ampolleta:30 mg
Naproxeno||tableta:250 mg;suspension_oral:125 mg
Ibuprofeno||tableta:400 mg,600 mg;suspension_oral:100 mg
Diclofenaco|diclofenaco sódico|capsula_lp:100 mg;ampolleta:75 mg
Tramadol|clorhidrato de tramadol|capsula:50 mg;ampolleta:100 mg
Celecoxib||capsula:100 mg,200 mg
Indometacina||capsula:25 mg;supositorio:100 mg
Meloxicam||tableta:7.5 mg,15 mg
Nalbufina|clorhidrato de nalbufina|ampolleta:10 mg
Butilhioscina|bromuro de butilhioscina|gragea:10 mg;ampolleta:20 mg
Colchicina||tableta:1 mg
Alopurinol||tableta:100 mg,300 mg
Clonixinato de lisina||tableta:125 mg;ampolleta:100 mg
Dexketoprofeno|dexketoprofeno trometamol|tableta:25 mg;ampolleta:50 mg
Etoricoxib||tableta:60 mg,90 mg,120 mg
Piroxicam||capsula:20 mg
Sulindaco||tableta:200 mg
Ergotamina y cafeína|tartrato de ergotamina {0} y cafeína {1}|tableta:1 mg/100 mg
Lidocaína|lidocaína|gel:2 g;parche:700 mg
## 010 70 antimicrobianos
Amoxicilina||capsula:500 mg;suspension_oral:250 mg,500 mg
Amoxicilina y ácido clavulánico|amoxicilina {0} y ácido clavulánico {1}|
    tableta:500 mg/125 mg,875 mg/125 mg;suspension_oral:125 mg/31.25 mg,400 mg/57 mg
Ampicilina||tableta:500 mg;liofilizado:500 mg,1 g
Bencilpenicilina procaínica|bencilpenicilina procaínica {0} y bencilpenicilina cristalina {1}|
    liofilizado:300 000 UI/100 000 UI,600 000 UI/200 000 UI
Benzatina bencilpenicilina||liofilizado:1 200 000 UI
Dicloxacilina||capsula:500 mg;suspension_oral:250 mg
Cefalexina||capsula:500 mg;suspension_oral:250 mg
Ceftriaxona||liofilizado:500 mg,1 g
Cefotaxima||liofilizado:1 g
Cefuroxima||liofilizado:750 mg;tableta:500 mg
Cefepima||liofilizado:500 mg,1 g
Ceftazidima||liofilizado:1 g
Cefixima||suspension_oral:100 mg;capsula:400 mg
Claritromicina||tableta:250 mg,500 mg
Azitromicina||tableta:500 mg;suspension_oral:200 mg;liofilizado:500 mg
Eritromicina||tableta:500 mg;suspension_oral:250 mg
Ciprofloxacino||tableta:250 mg,500 mg;solucion_iv:200 mg;oftalmica:3 mg
Levofloxacino||tableta:500 mg,750 mg;solucion_iv:500 mg
Moxifloxacino||tableta:400 mg
Trimetoprima y sulfametoxazol|trimetoprima {0} y sulfametoxazol {1}|
    tableta:80 mg/400 mg,160 mg/800 mg;suspension_oral:40 mg/200 mg;ampolleta:160 mg/800 mg
Nitrofurantoína||capsula:100 mg
Metronidazol||tableta:500 mg;suspension_oral:250 mg;solucion_iv:500 mg;ovulo:500 mg
Clindamicina||capsula:300 mg;ampolleta:300 mg,900 mg
Gentamicina|sulfato de gentamicina|ampolleta:20 mg,80 mg;oftalmica:3 mg
Amikacina|sulfato de amikacina|ampolleta:100 mg,500 mg
Vancomicina||liofilizado:500 mg,1 g
Meropenem||liofilizado:500 mg,1 g
Imipenem y cilastatina|imipenem {0} y cilastatina {1}|liofilizado:500 mg/500 mg
Ertapenem||liofilizado:1 g
Piperacilina y tazobactam|piperacilina {0} y tazobactam {1}|liofilizado:4 g/500 mg
Linezolid||tableta:600 mg;solucion_iv:200 mg
Doxiciclina||tableta:100 mg
Fluconazol||capsula:100 mg,150 mg;solucion_iv:200 mg
Itraconazol||capsula:100 mg
Voriconazol||tableta:200 mg;liofilizado:200 mg
Anfotericina B||liofilizado:50 mg
Nistatina||suspension_oral:100 000 UI;ovulo:100 000 UI
Clotrimazol||crema:1 g;ovulo:100 mg
Aciclovir||comprimido:200 mg;tableta:400 mg;crema:5 g;liofilizado:250 mg
Valganciclovir||tableta:450 mg
Oseltamivir||capsula:75 mg
Albendazol||tableta:200 mg;suspension_oral:100 mg
Mebendazol||tableta:100 mg;suspension_oral:100 mg
Nitazoxanida||tableta:500 mg;suspension_oral:100 mg
Ivermectina||tableta:6 mg
Isoniazida||tableta:100 mg,300 mg
Rifampicina||capsula:300 mg;suspension_oral:100 mg
Pirazinamida||tableta:500 mg
Etambutol|clorhidrato de etambutol|tableta:400 mg
Isoniazida, rifampicina, pirazinamida y etambutol|
    isoniazida {0}, rifampicina {1}, pirazinamida {2} y etambutol {3}|
    tableta:75 mg/150 mg/400 mg/300 mg
Cloroquina|fosfato de cloroquina|tableta:150 mg
Primaquina|fosfato de primaquina|tableta:5 mg,15 mg
Cefazolina|cefazolina sódica|liofilizado:1 g
Cefalotina|cefalotina sódica|liofilizado:1 g
Bencilpenicilina sódica cristalina||liofilizado:1 000 000 UI,5 000 000 UI
Estreptomicina|sulfato de estreptomicina|liofilizado:1 g
Tigeciclina||liofilizado:50 mg
Colistimetato de sodio|colistimetato de sodio equivalente a colistina|liofilizado:150 mg
Daptomicina||liofilizado:350 mg,500 mg
Teicoplanina||liofilizado:200 mg,400 mg
Caspofungina|acetato de caspofungina|liofilizado:50 mg,70 mg
Micafungina||liofilizado:50 mg,100 mg
Fosfomicina|fosfomicina trometamol equivalente a fosfomicina|polvo_oral:3 g
Norfloxacino||tableta:400 mg
Terbinafina||tableta:250 mg;crema:1 g
Ketoconazol||crema:2 g;tableta:200 mg
Miconazol|nitrato de miconazol|crema:2 g;ovulo:400 mg
Tinidazol||tableta:500 mg
Claritromicina|claritromicina|suspension_oral:125 mg,250 mg
## 010 1500 antirretrovirales y antivirales de alto costo
Zidovudina||capsula:100 mg;solucion_oral:10 mg
Lamivudina||tableta:150 mg;solucion_oral:10 mg
Abacavir||tableta:300 mg
Abacavir y lamivudina|abacavir {0} y lamivudina {1}|tableta:600 mg/300 mg
Tenofovir disoproxil|fumarato de tenofovir disoproxil|tableta:300 mg
Emtricitabina y tenofovir disoproxil|emtricitabina {0} y fumarato de tenofovir disoproxil {1}|
    tableta:200 mg/300 mg
Efavirenz||tableta:600 mg
Efavirenz, emtricitabina y tenofovir disoproxil|
    efavirenz {0}, emtricitabina {1} y fumarato de tenofovir disoproxil {2}|
    tableta:600 mg/200 mg/300 mg
Bictegravir, emtricitabina y tenofovir alafenamida|
    bictegravir {0}, emtricitabina {1} y tenofovir alafenamida {2}|tableta:50 mg/200 mg/25 mg
Dolutegravir||tableta:50 mg
Raltegravir||comprimido:400 mg
Darunavir||tableta:600 mg,800 mg
Ritonavir||tableta:100 mg
Lopinavir y ritonavir|lopinavir {0} y ritonavir {1}|tableta:200 mg/50 mg;solucion_oral:80 mg/20 mg
Atazanavir||capsula:300 mg
Nevirapina||tableta:200 mg
Etravirina||tableta:200 mg
Rilpivirina||tableta:25 mg
Sofosbuvir y velpatasvir|sofosbuvir {0} y velpatasvir {1}|tableta:400 mg/100 mg
Entecavir||tableta:0.5 mg,1 mg
Ganciclovir||liofilizado:500 mg
## 010 40 cardiología
Captopril||tableta:25 mg
Enalapril|maleato de enalapril|tableta:10 mg
Losartán|losartán potásico|tableta:50 mg
Valsartán||comprimido:80 mg,160 mg
Telmisartán||tableta:40 mg,80 mg
Irbesartán||tableta:150 mg,300 mg
Amlodipino|besilato de amlodipino|tableta:5 mg,10 mg
Nifedipino||capsula:10 mg;tableta_lp:30 mg
Metoprolol|tartrato de metoprolol|tableta:100 mg
Propranolol|clorhidrato de propranolol|tableta:10 mg,40 mg
Carvedilol||tableta:6.25 mg,25 mg
Atenolol||tableta:50 mg,100 mg
Hidroclorotiazida||tableta:25 mg
Clortalidona||tableta:50 mg
Furosemida||tableta:40 mg;ampolleta:20 mg
Espironolactona||tableta:25 mg,100 mg
Digoxina||tableta:0.25 mg;ampolleta:0.5 mg
Amiodarona|clorhidrato de amiodarona|tableta:200 mg;ampolleta:150 mg
Isosorbida|dinitrato de isosorbida|tableta:10 mg;tableta_sublingual:5 mg
Nitroglicerina||parche:18.7 mg;frasco_ampula:50 mg
Atorvastatina||tableta:20 mg,40 mg,80 mg
Pravastatina|pravastatina sódica|tableta:10 mg
Rosuvastatina||tableta:10 mg,20 mg
Bezafibrato||tableta:200 mg
Ezetimiba||tableta:10 mg
Clopidogrel|bisulfato de clopidogrel|tableta:75 mg
Acenocumarol||tableta:4 mg
Warfarina|warfarina sódica|tableta:5 mg
Rivaroxabán||tableta:10 mg,15 mg,20 mg
Apixabán||tableta:2.5 mg,5 mg
Dabigatrán etexilato||capsula:110 mg,150 mg
Enoxaparina|enoxaparina sódica|jeringa:20 mg,40 mg,60 mg
Heparina|heparina sódica|frasco_ampula:10 000 UI,25 000 UI
Sacubitrilo y valsartán|sacubitrilo {0} y valsartán {1}|
    comprimido:24 mg/26 mg,49 mg/51 mg,97 mg/103 mg
Prazosina||capsula:1 mg
Hidralazina|clorhidrato de hidralazina|tableta:10 mg,50 mg;ampolleta:20 mg
Metildopa||tableta:250 mg
Dobutamina|clorhidrato de dobutamina|ampolleta:250 mg
Dopamina|clorhidrato de dopamina|ampolleta:200 mg
Norepinefrina|bitartrato de norepinefrina|ampolleta:4 mg
Epinefrina||ampolleta:1 mg
Atropina|sulfato de atropina|ampolleta:1 mg
Adenosina||ampolleta:6 mg
Verapamilo|clorhidrato de verapamilo|tableta:80 mg;ampolleta:5 mg
Diltiazem|clorhidrato de diltiazem|tableta:30 mg
Levosimendán||frasco_ampula:12.5 mg
Alteplasa||liofilizado:50 mg
Candesartán|candesartán cilexetilo|tableta:16 mg,32 mg
Bisoprolol|fumarato de bisoprolol|tableta:2.5 mg,5 mg
Ivabradina||tableta:5 mg,7.5 mg
Ticagrelor||tableta:90 mg
Fondaparinux|fondaparinux sódico|jeringa:2.5 mg,7.5 mg
Isosorbida mononitrato|mononitrato de isosorbida|tableta:20 mg;tableta_lp:60 mg
Trimetazidina|clorhidrato de trimetazidina|tableta_lp:35 mg
Pentoxifilina||tableta_lp:400 mg
Cilostazol||tableta:100 mg
Fenofibrato||capsula:200 mg
Simvastatina||tableta:20 mg,40 mg
Pravastatina|pravastatina sódica|tableta:40 mg
Nitroprusiato de sodio||liofilizado:50 mg
Esmolol|clorhidrato de esmolol|frasco_ampula:100 mg
Metoprolol|tartrato de metoprolol|ampolleta:5 mg
Vasopresina||ampolleta:20 UI
Milrinona|lactato de milrinona|ampolleta:10 mg
Ácido tranexámico||ampolleta:500 mg;tableta:650 mg
Protamina|sulfato de protamina|ampolleta:50 mg
Losartán e hidroclorotiazida|losartán potásico {0} e hidroclorotiazida {1}|tableta:50 mg/12.5 mg,
    100 mg/25 mg
Irbesartán e hidroclorotiazida|irbesartán {0} e hidroclorotiazida {1}|tableta:150 mg/12.5 mg,
    300 mg/25 mg
## 010 60 endocrinología y metabolismo
Metformina|clorhidrato de metformina|tableta:850 mg;tableta_lp:500 mg
Glibenclamida||tableta:5 mg
Sitagliptina||tableta:50 mg,100 mg
Linagliptina||tableta:5 mg
Dapagliflozina||tableta:10 mg
Empagliflozina||tableta:10 mg,25 mg
Pioglitazona||tableta:15 mg,30 mg
Insulina humana de acción intermedia NPH|insulina humana isófana|suspension_inyectable:100 UI
Insulina humana de acción rápida regular|insulina humana|suspension_inyectable:100 UI
Insulina glargina||pluma:100 UI,300 UI
Insulina lispro||pluma:100 UI
Insulina detemir||pluma:100 UI
Liraglutida||pluma:6 mg
Levotiroxina|levotiroxina sódica|tableta:25 µg,50 µg,100 µg
Tiamazol||tableta:5 mg
Prednisona||tableta:5 mg,50 mg
Dexametasona|fosfato sódico de dexametasona|ampolleta:8 mg
Hidrocortisona|succinato sódico de hidrocortisona|liofilizado:100 mg,500 mg
Metilprednisolona|succinato sódico de metilprednisolona|liofilizado:500 mg
Betametasona|fosfato sódico de betametasona|ampolleta:4 mg
Calcitriol||capsula:0.25 µg
Ácido alendrónico|alendronato sódico|tableta:70 mg
Desmopresina|acetato de desmopresina|tableta:0.2 mg
Cabergolina||tableta:0.5 mg
Medroxiprogesterona|acetato de medroxiprogesterona|suspension_inyectable:150 mg
Levonorgestrel y etinilestradiol|levonorgestrel {0} y etinilestradiol {1}|gragea:0.15 mg/0.03 mg
Levonorgestrel||comprimido:0.75 mg,1.5 mg
Etonogestrel||implante:68 mg
Progesterona||capsula:100 mg,200 mg
Estrógenos conjugados|estrógenos conjugados de origen equino|tableta:0.625 mg;crema:62.5 mg
Glimepirida||tableta:2 mg,4 mg
Metformina y glibenclamida|clorhidrato de metformina {0} y glibenclamida {1}|tableta:500 mg/5 mg
Sitagliptina y metformina|sitagliptina {0} y clorhidrato de metformina {1}|tableta:50 mg/850 mg,
    50 mg/1000 mg
Insulina aspart||pluma:100 UI
Insulina degludec||pluma:100 UI
Dulaglutida||jeringa:0.75 mg,1.5 mg
Octreotida|acetato de octreotida|ampolleta:0.1 mg;liofilizado:20 mg
Testosterona|enantato de testosterona|ampolleta:250 mg
Denosumab||jeringa:60 mg
Teriparatida||pluma:250 µg
Somatropina||liofilizado:4 UI,16 UI
Propiltiouracilo||tableta:50 mg
Fludrocortisona|acetato de fludrocortisona|tableta:0.1 mg
Deflazacort||tableta:6 mg,30 mg
Dexametasona|dexametasona|tableta:0.5 mg
Noretisterona y estradiol|enantato de noretisterona {0} y valerato de estradiol {1}|
    ampolleta:50 mg/5 mg
Desogestrel||tableta:0.075 mg
Clomifeno|citrato de clomifeno|tableta:50 mg
## 010 35 gastroenterología
Omeprazol||capsula:20 mg;liofilizado:40 mg
Pantoprazol||tableta:40 mg;liofilizado:40 mg
Esomeprazol||tableta:20 mg,40 mg
Metoclopramida|clorhidrato de metoclopramida|tableta:10 mg;ampolleta:10 mg
Ondansetrón||tableta:8 mg;ampolleta:8 mg
Loperamida|clorhidrato de loperamida|tableta:2 mg
Senósidos A-B|concentrado de sen|tableta:8.6 mg
Lactulosa||jarabe:3.33 g
Sucralfato||tableta:1 g
Mesalazina||tableta:500 mg
Ácido ursodesoxicólico||capsula:250 mg
Electrolitos orales|
    glucosa anhidra {0}, cloruro de sodio {1}, cloruro de potasio {2} y citrato trisódico
    dihidratado {3}|
    polvo_oral:13.5 g/2.6 g/1.5 g/2.9 g
Pancreatina||capsula:150 mg
Famotidina||tableta:20 mg,40 mg
Dimenhidrinato||tableta:50 mg;ampolleta:50 mg
Bisacodilo||gragea:5 mg
Macrogol|polietilenglicol 3350|polvo_oral:17 g,105 g
Trimebutina|maleato de trimebutina|tableta:200 mg
Pinaverio|bromuro de pinaverio|tableta:100 mg
Aluminio y magnesio|hidróxido de aluminio {0} e hidróxido de magnesio {1}|
    suspension_oral:185 mg/200 mg;tableta_masticable:200 mg/200 mg
Terlipresina|acetato de terlipresina|liofilizado:1 mg
Racecadotrilo||capsula:100 mg;polvo_oral:10 mg,30 mg
## 010 80 neumología y alergia
Salbutamol||aerosol:100 µg;jarabe:2 mg;nebulizar:5 mg
Bromuro de ipratropio||aerosol:20 µg;nebulizar:0.25 mg
Salbutamol y bromuro de ipratropio|salbutamol {0} y bromuro de ipratropio {1}|aerosol:100 µg/20 µg;
    nebulizar:2.5 mg/0.5 mg
Beclometasona|dipropionato de beclometasona|aerosol:50 µg,250 µg
Budesonida||aerosol:200 µg;nebulizar:0.25 mg
Fluticasona y salmeterol|propionato de fluticasona {0} y salmeterol {1}|
    aerosol:250 µg/25 µg,125 µg/25 µg
Tiotropio|bromuro de tiotropio|capsula:18 µg
Montelukast||comprimido:10 mg;tableta_masticable:4 mg,5 mg
Loratadina||tableta:10 mg;jarabe:5 mg
Cetirizina|diclorhidrato de cetirizina|tableta:10 mg
Clorfenamina|maleato de clorfenamina|tableta:4 mg;jarabe:0.5 mg;ampolleta:10 mg
Aminofilina||ampolleta:250 mg
Ambroxol|clorhidrato de ambroxol|jarabe:15 mg;solucion_oral:7.5 mg
Fluticasona|propionato de fluticasona|aerosol:50 µg,250 µg;nasal:50 µg
Budesonida y formoterol|budesonida {0} y fumarato de formoterol {1}|aerosol:160 µg/4.5 µg,
    320 µg/9 µg
Mometasona|furoato de mometasona|nasal:50 µg
Oximetazolina|clorhidrato de oximetazolina|nasal:0.05 mg
Omalizumab||liofilizado:150 mg
Benzonatato||capsula:100 mg
Dextrometorfano|bromhidrato de dextrometorfano|jarabe:15 mg
Epinefrina racémica||nebulizar:22.5 mg
## 010 60 neurología
Fenitoína|fenitoína sódica|tableta:100 mg;suspension_oral:37.5 mg;ampolleta:250 mg
Carbamazepina||tableta:200 mg;suspension_oral:100 mg
Ácido valproico||capsula:250 mg;solucion_oral:250 mg
Valproato semisódico||tableta_lp:250 mg,500 mg
Levetiracetam||tableta:500 mg,1000 mg;frasco_ampula:500 mg
Lamotrigina||tableta:25 mg,100 mg
Topiramato||tableta:25 mg,100 mg
Gabapentina||capsula:300 mg
Pregabalina||capsula:75 mg,150 mg
Levodopa y carbidopa|levodopa {0} y carbidopa {1}|tableta:250 mg/25 mg
Biperideno|clorhidrato de biperideno|tableta:2 mg;ampolleta:5 mg
Donepezilo|clorhidrato de donepezilo|tableta:5 mg,10 mg
Nimodipino||tableta:30 mg
Sumatriptán||tableta:50 mg
Piridostigmina|bromuro de piridostigmina|tableta:60 mg
Toxina botulínica tipo A||liofilizado:100 U,500 U
Interferón beta 1a||jeringa:44 µg
Oxcarbazepina||tableta:300 mg,600 mg
Rivastigmina||parche:4.6 mg,9.5 mg
Memantina|clorhidrato de memantina|tableta:10 mg
Pramipexol|diclorhidrato de pramipexol|tableta:0.25 mg,1 mg
Baclofeno||tableta:10 mg
Natalizumab||frasco_ampula:300 mg
Fingolimod||capsula:0.5 mg
Ocrelizumab||frasco_ampula:300 mg
Teriflunomida||tableta:14 mg
Dimetilfumarato||capsula:120 mg,240 mg
Acetazolamida||tableta:250 mg
Flunarizina||capsula:5 mg,10 mg
Betahistina|diclorhidrato de betahistina|tableta:8 mg,16 mg
## 010 3500 oncología y hematología
Metotrexato|metotrexato sódico|tableta:2.5 mg;liofilizado:50 mg,500 mg
Ciclofosfamida||liofilizado:200 mg,500 mg
Cisplatino||frasco_ampula:10 mg,50 mg
Carboplatino||frasco_ampula:150 mg,450 mg
Oxaliplatino||liofilizado:50 mg,100 mg
Paclitaxel||frasco_ampula:30 mg,300 mg
Docetaxel||frasco_ampula:20 mg,80 mg
Doxorrubicina|clorhidrato de doxorrubicina|liofilizado:10 mg,50 mg
Epirrubicina|clorhidrato de epirrubicina|frasco_ampula:50 mg
Vincristina|sulfato de vincristina|liofilizado:1 mg
Vinorelbina||frasco_ampula:10 mg,50 mg
Fluorouracilo||ampolleta:250 mg
Gemcitabina||liofilizado:200 mg,1 g
Irinotecán||frasco_ampula:100 mg
Etopósido||frasco_ampula:100 mg
Citarabina||frasco_ampula:500 mg
Bleomicina||liofilizado:15 UI
Dacarbazina||liofilizado:200 mg
Capecitabina||tableta:500 mg
Temozolomida||capsula:20 mg,100 mg
Tamoxifeno|citrato de tamoxifeno|tableta:20 mg
Anastrozol||tableta:1 mg
Letrozol||tableta:2.5 mg
Bicalutamida||tableta:50 mg
Abiraterona|acetato de abiraterona|tableta:250 mg
Imatinib|mesilato de imatinib|tableta:100 mg,400 mg
Dasatinib||tableta:50 mg,70 mg
Nilotinib||capsula:200 mg
Mercaptopurina||tableta:50 mg
Hidroxicarbamida||capsula:500 mg
Rituximab||frasco_ampula:100 mg,500 mg
Trastuzumab||liofilizado:150 mg,440 mg
Bevacizumab||frasco_ampula:100 mg,400 mg
Pembrolizumab||frasco_ampula:100 mg
Nivolumab||frasco_ampula:40 mg,100 mg
Cetuximab||frasco_ampula:100 mg
Bortezomib||liofilizado:3.5 mg
Lenalidomida||capsula:10 mg,25 mg
Leuprorelina|acetato de leuprorelina|liofilizado:3.75 mg,11.25 mg
Goserelina|acetato de goserelina|implante:3.6 mg,10.8 mg
Filgrastim||frasco_ampula:300 µg
Ácido zoledrónico||frasco_ampula:4 mg
Folinato de calcio||ampolleta:50 mg
Mesna||ampolleta:400 mg
Eritropoyetina|eritropoyetina humana recombinante|jeringa:2 000 UI,4 000 UI,6 000 UI
Hierro sacarosa|hierro sacarosa equivalente a hierro elemental|ampolleta:100 mg
Factor VIII de la coagulación humano|factor antihemofílico humano|liofilizado:250 UI,500 UI,1 000 UI
Factor IX de la coagulación||liofilizado:500 UI,1 000 UI
Inmunoglobulina humana normal||frasco_ampula:5 g,10 g
Albúmina humana||frasco_ampula:10 g,12.5 g
Ifosfamida||liofilizado:1 g
Mitomicina||liofilizado:5 mg,20 mg
Daunorrubicina|clorhidrato de daunorrubicina|liofilizado:20 mg
Fludarabina|fosfato de fludarabina|liofilizado:50 mg
Azacitidina||liofilizado:100 mg
Pemetrexed||liofilizado:100 mg,500 mg
Enzalutamida||capsula:40 mg
Exemestano||tableta:25 mg
Fulvestrant||jeringa:250 mg
Pertuzumab||frasco_ampula:420 mg
Atezolizumab||frasco_ampula:1 200 mg
Daratumumab||frasco_ampula:100 mg,400 mg
Ibrutinib||capsula:140 mg
Ruxolitinib||tableta:5 mg,15 mg,20 mg
Erlotinib||tableta:150 mg
Gefitinib||tableta:250 mg
Osimertinib||tableta:40 mg,80 mg
Sorafenib||tableta:200 mg
Sunitinib||capsula:12.5 mg,50 mg
Talidomida||capsula:100 mg
Tretinoína|ácido transretinoico|capsula:10 mg
Asparaginasa||liofilizado:10 000 UI
Clorambucilo||tableta:2 mg
Melfalán||tableta:2 mg
Busulfano||tableta:2 mg
Aprepitant||capsula:80 mg,125 mg
Pegfilgrastim||jeringa:6 mg
Eltrombopag||tableta:25 mg,50 mg
Emicizumab||frasco_ampula:30 mg,150 mg
Eptacog alfa|factor VII de la coagulación activado recombinante|liofilizado:1 mg,2 mg
Deferasirox||tableta:90 mg,360 mg
## 010 900 inmunología, trasplante y reumatología
Tacrolimus||capsula:1 mg,5 mg
Micofenolato de mofetilo||tableta:500 mg
Ácido micofenólico|micofenolato sódico|tableta:180 mg,360 mg
Ciclosporina||capsula:25 mg,100 mg
Everolimus||tableta:0.75 mg
Azatioprina||tableta:50 mg
Basiliximab||liofilizado:20 mg
Adalimumab||jeringa:40 mg
Etanercept||jeringa:25 mg,50 mg
Tocilizumab||frasco_ampula:80 mg,200 mg
Infliximab||liofilizado:100 mg
Hidroxicloroquina|sulfato de hidroxicloroquina|tableta:200 mg
Leflunomida||tableta:20 mg
Sulfasalazina||tableta:500 mg
## 010 30 nefrología, urología y otros
Sevelámero|carbonato de sevelámero|tableta:800 mg
Tamsulosina|clorhidrato de tamsulosina|capsula:0.4 mg
Finasterida||tableta:5 mg
Oxibutinina|cloruro de oxibutinina|tableta:5 mg
Sildenafil|citrato de sildenafil|tableta:20 mg
Sulfato ferroso||tableta:200 mg
Ácido fólico||tableta:0.4 mg,5 mg
Fitomenadiona||ampolleta:2 mg,10 mg
Tiamina|clorhidrato de tiamina|ampolleta:100 mg
Complejo B|tiamina {0}, piridoxina {1} y cianocobalamina {2}|ampolleta:100 mg/100 mg/1 mg
Calcio|carbonato de calcio equivalente a calcio|tableta:500 mg
Colecalciferol||solucion_oral:800 UI
Cianocobalamina||ampolleta:1 mg
Hidroxocobalamina||ampolleta:10 mg
Piridoxina|clorhidrato de piridoxina|ampolleta:300 mg
Ácido ascórbico||ampolleta:1 g
Aminoácidos cristalinos|aminoácidos esenciales y no esenciales|solucion_iv:10 g,15 g
Gelatina succinilada||solucion_iv:4 g
Fosfato de potasio|fosfato de potasio dibásico {0} y fosfato de potasio monobásico {1}|
    ampolleta:1.55 g/0.30 g
Cinacalcet||tableta:30 mg,60 mg
Solifenacina|succinato de solifenacina|tableta:5 mg,10 mg
Dutasterida||capsula:0.5 mg
## 010 120 anestesia y cuidados críticos
Lidocaína|clorhidrato de lidocaína|frasco_ampula:500 mg,1 g
Lidocaína y epinefrina|clorhidrato de lidocaína {0} y epinefrina {1}|frasco_ampula:1 g/0.25 mg
Bupivacaína|clorhidrato de bupivacaína|ampolleta:15 mg;frasco_ampula:150 mg
Ropivacaína|clorhidrato de ropivacaína|ampolleta:40 mg;frasco_ampula:150 mg
Propofol||ampolleta:200 mg
Rocuronio|bromuro de rocuronio|frasco_ampula:50 mg
Vecuronio|bromuro de vecuronio|liofilizado:4 mg
Cisatracurio|besilato de cisatracurio|ampolleta:10 mg
Neostigmina|metilsulfato de neostigmina|ampolleta:0.5 mg
Sugammadex||frasco_ampula:200 mg
Dexmedetomidina|clorhidrato de dexmedetomidina|frasco_ampula:200 µg
Naloxona|clorhidrato de naloxona|ampolleta:0.4 mg
Flumazenil||ampolleta:0.5 mg
Oxitocina||ampolleta:5 UI
Carbetocina||ampolleta:100 µg
Misoprostol||tableta:200 µg
Sulfato de magnesio||ampolleta:1 g
Gluconato de calcio||ampolleta:1 g
Bicarbonato de sodio||ampolleta:0.75 g
Cloruro de potasio||ampolleta:1.49 g
Sevoflurano||liquido_inhalacion:250 ml
Desflurano||liquido_inhalacion:240 ml
Isoflurano||liquido_inhalacion:100 ml
Etomidato||ampolleta:20 mg
Tiopental|tiopental sódico|liofilizado:500 mg,1 g
Suxametonio|cloruro de suxametonio|frasco_ampula:40 mg
Efedrina|sulfato de efedrina|ampolleta:50 mg
Fenilefrina|clorhidrato de fenilefrina|ampolleta:10 mg
Dantroleno|dantroleno sódico|liofilizado:20 mg
Atosiban||frasco_ampula:37.5 mg
Metilergometrina|maleato de metilergometrina|ampolleta:0.2 mg
Dinoprostona||ovulo:10 mg
## 010 25 soluciones
Cloruro de sodio||solucion_iv:0.9 g
Glucosa|glucosa anhidra|solucion_iv:5 g,10 g,50 g
Solución Hartmann|
    cloruro de sodio {0}, cloruro de potasio {1}, cloruro de calcio dihidratado {2} y lactato
    de sodio {3}|
    solucion_iv:0.600 g/0.030 g/0.020 g/0.310 g
Cloruro de sodio y glucosa|cloruro de sodio {0} y glucosa {1}|solucion_iv:0.9 g/5 g
Manitol||solucion_iv:20 g
## 010 40 dermatología y oftalmología
Sulfadiazina de plata||crema:1 g
Hidrocortisona|acetato de hidrocortisona|crema:1 g
Mupirocina||unguento:2 g
Clioquinol||crema:3 g
Permetrina||crema:5 g
Timolol|maleato de timolol|oftalmica:5 mg
Latanoprost||oftalmica:50 µg
Cloranfenicol|cloranfenicol levógiro|oftalmica:5 mg
Hipromelosa||oftalmica:5 mg
Tobramicina||oftalmica:3 mg
Prednisolona|acetato de prednisolona|oftalmica:10 mg
Dorzolamida|clorhidrato de dorzolamida|oftalmica:20 mg
Brimonidina|tartrato de brimonidina|oftalmica:2 mg
Tropicamida||oftalmica:10 mg
Betametasona|dipropionato de betametasona|crema:0.05 g
Clobetasol|propionato de clobetasol|crema:0.05 g;unguento:0.05 g
Ácido fusídico||crema:2 g
Isotretinoína||capsula:10 mg,20 mg
Tretinoína|tretinoína|crema:0.05 g
Olopatadina|clorhidrato de olopatadina|oftalmica:1 mg
Ciclosporina|ciclosporina|oftalmica:0.5 mg
Moxifloxacino|clorhidrato de moxifloxacino|oftalmica:5 mg
Pilocarpina|clorhidrato de pilocarpina|oftalmica:20 mg
Atropina|sulfato de atropina|oftalmica:10 mg
Fenilefrina|clorhidrato de fenilefrina|oftalmica:100 mg
Ranibizumab||frasco_ampula:2.3 mg
Aflibercept||frasco_ampula:4 mg
## 040 150 psicotrópicos y estupefacientes
Morfina|sulfato de morfina|ampolleta:10 mg,50 mg;tableta_lp:30 mg
Fentanilo|citrato de fentanilo equivalente a fentanilo|ampolleta:0.5 mg;parche:4.2 mg,8.4 mg
Buprenorfina|clorhidrato de buprenorfina|ampolleta:0.3 mg;parche:20 mg
Oxicodona|clorhidrato de oxicodona|tableta_lp:10 mg,20 mg
Tapentadol||tableta_lp:50 mg,100 mg
Metadona|clorhidrato de metadona|tableta:10 mg
Petidina|clorhidrato de petidina|ampolleta:100 mg
Diazepam||tableta:10 mg;ampolleta:10 mg
Clonazepam||tableta:2 mg;solucion_oral:2.5 mg
Alprazolam||tableta:0.25 mg,2 mg
Lorazepam||tableta:1 mg
Midazolam|clorhidrato de midazolam|ampolleta:5 mg,15 mg,50 mg
Fenobarbital||tableta:100 mg
Metilfenidato|clorhidrato de metilfenidato|tableta:10 mg;tableta_lp:18 mg,36 mg
Ketamina|clorhidrato de ketamina|frasco_ampula:500 mg
Hidroxizina|clorhidrato de hidroxizina|gragea:10 mg
Bromazepam||tableta:3 mg
Fluoxetina|clorhidrato de fluoxetina|capsula:20 mg
Sertralina|clorhidrato de sertralina|capsula:50 mg
Paroxetina|clorhidrato de paroxetina|tableta:20 mg
Citalopram|bromhidrato de citalopram|tableta:20 mg
Escitalopram|oxalato de escitalopram|tableta:10 mg
Venlafaxina|clorhidrato de venlafaxina|capsula_lp:75 mg,150 mg
Bupropión|clorhidrato de bupropión|tableta_lp:150 mg
Amitriptilina|clorhidrato de amitriptilina|tableta:25 mg
Imipramina|clorhidrato de imipramina|gragea:25 mg
Haloperidol||tableta:5 mg;ampolleta:5 mg
Risperidona||tableta:2 mg;solucion_oral:1 mg
Olanzapina||tableta:5 mg,10 mg
Quetiapina|fumarato de quetiapina|tableta:100 mg,300 mg
Aripiprazol||tableta:15 mg
Clozapina||tableta:100 mg
Carbonato de litio||tableta:300 mg
Remifentanilo|clorhidrato de remifentanilo|liofilizado:2 mg,5 mg
Sufentanilo|citrato de sufentanilo|ampolleta:250 µg
Clobazam||tableta:10 mg
Zolpidem|tartrato de zolpidem|tableta:10 mg
Duloxetina|clorhidrato de duloxetina|capsula:30 mg,60 mg
Mirtazapina||tableta:15 mg,30 mg
Trazodona|clorhidrato de trazodona|tableta:50 mg
Paliperidona||tableta_lp:3 mg,6 mg,9 mg
Levomepromazina|maleato de levomepromazina|tableta:25 mg
Trifluoperazina|clorhidrato de trifluoperazina|tableta:5 mg
Flufenazina|decanoato de flufenazina|ampolleta:25 mg
"""


@dataclass(frozen=True, slots=True)
class _Drug:
    group: str
    median: float
    name: str
    ingredient: str
    form: str
    strength: str


def _parse_medicines(text: str) -> tuple[_Drug, ...]:
    drugs: list[_Drug] = []
    group, median = "010", 50.0
    lines: list[str] = []
    for raw in text.strip().splitlines():
        if raw.startswith(" ") and lines:
            glue = "" if lines[-1].endswith(("|", ";")) else " "
            lines[-1] += glue + raw.strip()
        else:
            lines.append(raw)
    seen: set[tuple[str, str, str]] = set()
    for line in lines:
        if line.startswith("##"):
            _, group, price, *_ = line.split()
            median = float(price)
            continue
        name, ingredient, presentations = line.split("|")
        for presentation in presentations.split(";"):
            form, strengths = presentation.split(":")
            if form not in _FORMS:
                raise ValueError(f"unknown pharmaceutical form {form!r} for {name}")
            for strength in strengths.split(","):
                key = (name, form, strength.strip())
                if key in seen:
                    # Package variants of one item are numbered per entry; a repeat would
                    # reuse its claves.
                    raise ValueError(f"{name} {form} {strength} is listed twice")
                seen.add(key)
                drugs.append(_Drug(group, median, name, ingredient, form, strength.strip()))
    return tuple(drugs)


_DRUGS = _parse_medicines(_MEDICINES)

# Injectables and biologics cost more than the same drug taken by mouth.
_FORM_PRICE = {
    "ampolleta": 1.4,
    "frasco_ampula": 2.5,
    "liofilizado": 2.5,
    "jeringa": 3.0,
    "pluma": 3.0,
    "suspension_inyectable": 2.0,
    "implante": 4.0,
    "parche": 2.0,
}


def _active(drug: _Drug) -> str:
    template = drug.ingredient or drug.name.lower()
    if "{" in template:
        return template.format(*drug.strength.split("/"))
    return f"{template} {drug.strength}"


def _drug_description(drug: _Drug, presentation: str) -> str:
    form = _FORMS[drug.form]
    return f"{drug.name}. {form.label}. {form.content}: {_active(drug)}. {presentation}"


# --- vaccines, toxoids, immunoglobulins and antivenoms (group 020) ---------------------------

# (name, description without the package, package)
_VACCINES: tuple[tuple[str, str, str], ...] = (
    (
        "Vacuna BCG",
        "Vacuna BCG. Suspensión inyectable. Cada dosis de 0.1 ml de la suspensión reconstituida "
        "contiene: bacilos atenuados de Mycobacterium bovis (bacilo de Calmette-Guérin) "
        "200 000 a 3 000 000 UFC.",
        "Envase con frasco ámpula con liofilizado para 10 dosis y ampolleta con diluyente de 1 ml.",
    ),
    (
        "Vacuna recombinante contra la hepatitis B",
        "Vacuna recombinante contra la hepatitis B. Suspensión inyectable. Cada dosis de 1 ml "
        "contiene: antígeno de superficie del virus de la hepatitis B 20 µg.",
        "Envase con frasco ámpula con 10 ml (10 dosis).",
    ),
    (
        "Vacuna recombinante contra la hepatitis B pediátrica",
        "Vacuna recombinante contra la hepatitis B. Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: antígeno de superficie del virus de la hepatitis B 10 µg.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna hexavalente",
        "Vacuna hexavalente acelular antipertussis con toxoides diftérico y tetánico adsorbidos, "
        "antipoliomielítica inactivada, conjugada de Haemophilus influenzae tipo b y recombinante "
        "de hepatitis B. Suspensión inyectable. Cada dosis de 0.5 ml.",
        "Envase con 10 jeringas prellenadas con 0.5 ml.",
    ),
    (
        "Vacuna pentavalente acelular",
        "Vacuna antipertussis acelular con toxoides diftérico y tetánico adsorbidos, "
        "antipoliomielítica inactivada y conjugada de Haemophilus influenzae tipo b "
        "(DPaT+VIP+Hib). Suspensión inyectable. Cada dosis de 0.5 ml.",
        "Envase con 10 frascos ámpula con liofilizado y 10 jeringas prellenadas con 0.5 ml.",
    ),
    (
        "Vacuna DPT",
        "Vacuna triple bacteriana (DPT). Suspensión inyectable. Cada dosis de 0.5 ml contiene: "
        "toxoide diftérico no más de 30 Lf, toxoide tetánico no más de 25 Lf y Bordetella "
        "pertussis no más de 16 UO.",
        "Envase con frasco ámpula con 5 ml (10 dosis).",
    ),
    (
        "Toxoides tetánico y diftérico (Td)",
        "Toxoides tetánico y diftérico (Td). Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: toxoide diftérico no más de 5 Lf y toxoide tetánico no más de 25 Lf.",
        "Envase con frasco ámpula con 5 ml (10 dosis).",
    ),
    (
        "Toxoides tetánico y diftérico (Td) unidosis",
        "Toxoides tetánico y diftérico (Td). Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: toxoide diftérico no más de 5 Lf y toxoide tetánico no más de 25 Lf.",
        "Envase con 10 jeringas prellenadas con 0.5 ml.",
    ),
    (
        "Vacuna Tdpa",
        "Vacuna de toxoides tetánico y diftérico y antipertussis acelular (Tdpa). Suspensión "
        "inyectable. Cada dosis de 0.5 ml.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna contra rotavirus",
        "Vacuna contra rotavirus. Suspensión oral. Cada dosis de 1.5 ml contiene: rotavirus "
        "humano vivo atenuado no menos de 10⁶ DICC50.",
        "Envase con tubo aplicador con 1.5 ml.",
    ),
    (
        "Vacuna pentavalente contra rotavirus",
        "Vacuna pentavalente contra rotavirus. Solución oral. Cada dosis de 2 ml contiene: "
        "rotavirus reasortantes humano-bovinos vivos G1, G2, G3, G4 y P1A[8].",
        "Envase con tubo aplicador con 2 ml.",
    ),
    (
        "Vacuna neumocócica conjugada 13 valente",
        "Vacuna neumocócica conjugada 13 valente. Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: polisacáridos de 13 serotipos de Streptococcus pneumoniae conjugados con la "
        "proteína CRM197.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna neumocócica polisacárida 23 valente",
        "Vacuna neumocócica polisacárida 23 valente. Solución inyectable. Cada dosis de 0.5 ml "
        "contiene: 25 µg de cada uno de los 23 polisacáridos capsulares de Streptococcus "
        "pneumoniae.",
        "Envase con frasco ámpula con 0.5 ml.",
    ),
    (
        "Vacuna antiinfluenza trivalente",
        "Vacuna antiinfluenza trivalente inactivada. Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: antígenos de superficie de los virus de influenza de las cepas que la OMS "
        "recomienda para la temporada.",
        "Envase con frasco ámpula con 5 ml (10 dosis).",
    ),
    (
        "Vacuna antiinfluenza trivalente unidosis",
        "Vacuna antiinfluenza trivalente inactivada. Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: antígenos de superficie de los virus de influenza de las cepas que la OMS "
        "recomienda para la temporada.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna antiinfluenza tetravalente",
        "Vacuna antiinfluenza tetravalente inactivada. Suspensión inyectable. Cada dosis de "
        "0.5 ml contiene: antígenos de dos cepas de influenza A y dos de influenza B.",
        "Envase con 10 jeringas prellenadas con 0.5 ml.",
    ),
    (
        "Vacuna triple viral (SRP)",
        "Vacuna triple viral contra sarampión, rubéola y parotiditis (SRP). Solución inyectable. "
        "Cada dosis de 0.5 ml de vacuna reconstituida contiene: virus atenuados del sarampión, "
        "de la rubéola y de la parotiditis.",
        "Envase con frasco ámpula con liofilizado para 10 dosis y diluyente.",
    ),
    (
        "Vacuna triple viral (SRP) unidosis",
        "Vacuna triple viral contra sarampión, rubéola y parotiditis (SRP). Solución inyectable. "
        "Cada dosis de 0.5 ml de vacuna reconstituida contiene: virus atenuados del sarampión, "
        "de la rubéola y de la parotiditis.",
        "Envase con frasco ámpula con liofilizado para una dosis y diluyente.",
    ),
    (
        "Vacuna doble viral (SR)",
        "Vacuna doble viral contra sarampión y rubéola (SR). Solución inyectable. Cada dosis de "
        "0.5 ml de vacuna reconstituida contiene: virus atenuados del sarampión y de la rubéola.",
        "Envase con frasco ámpula con liofilizado para 10 dosis y diluyente.",
    ),
    (
        "Vacuna contra el virus del papiloma humano",
        "Vacuna recombinante contra el virus del papiloma humano. Suspensión inyectable. Cada "
        "dosis de 0.5 ml contiene: proteína L1 de los tipos 6, 11, 16 y 18.",
        "Envase con frasco ámpula con 0.5 ml.",
    ),
    (
        "Vacuna contra el virus del papiloma humano bivalente",
        "Vacuna recombinante contra el virus del papiloma humano. Suspensión inyectable. Cada "
        "dosis de 0.5 ml contiene: proteína L1 de los tipos 16 y 18.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna contra la hepatitis A",
        "Vacuna contra la hepatitis A. Suspensión inyectable. Cada dosis de 0.5 ml contiene: "
        "virus de la hepatitis A inactivado 720 unidades ELISA.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna contra la varicela",
        "Vacuna de virus vivos atenuados contra la varicela. Suspensión inyectable. Cada dosis "
        "de 0.5 ml de vacuna reconstituida contiene: virus de la varicela zóster atenuados no "
        "menos de 1 350 UFP.",
        "Envase con frasco ámpula con liofilizado y jeringa prellenada con diluyente.",
    ),
    (
        "Vacuna antirrábica humana",
        "Vacuna antirrábica humana de células Vero. Suspensión inyectable. Cada dosis de vacuna "
        "reconstituida contiene: virus de la rabia inactivado no menos de 2.5 UI.",
        "Envase con frasco ámpula con liofilizado y jeringa prellenada con 0.5 ml de diluyente.",
    ),
    (
        "Vacuna antipoliomielítica oral bivalente",
        "Vacuna antipoliomielítica oral bivalente tipos 1 y 3. Suspensión oral. Cada dosis de "
        "2 gotas contiene: poliovirus atenuados tipos 1 y 3.",
        "Envase con gotero de plástico con 2 ml (20 dosis).",
    ),
    (
        "Vacuna antipoliomielítica inactivada",
        "Vacuna antipoliomielítica inactivada. Suspensión inyectable. Cada dosis de 0.5 ml "
        "contiene: poliovirus inactivados tipos 1, 2 y 3.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Vacuna contra la fiebre amarilla",
        "Vacuna de virus vivos atenuados contra la fiebre amarilla. Suspensión inyectable. Cada "
        "dosis de 0.5 ml de vacuna reconstituida contiene: virus de la fiebre amarilla cepa 17D.",
        "Envase con frasco ámpula con liofilizado para 10 dosis y diluyente.",
    ),
    (
        "Vacuna contra COVID-19",
        "Vacuna contra el virus SARS-CoV-2 (COVID-19). Suspensión inyectable. Cada dosis de "
        "0.5 ml contiene el antígeno que autoriza la COFEPRIS para la temporada.",
        "Envase con frasco ámpula multidosis.",
    ),
    (
        "Vacuna conjugada contra Haemophilus influenzae tipo b",
        "Vacuna conjugada contra Haemophilus influenzae tipo b. Solución inyectable. Cada dosis "
        "de 0.5 ml contiene: polisacárido capsular de Haemophilus influenzae tipo b 10 µg "
        "conjugado con toxoide tetánico.",
        "Envase con frasco ámpula con liofilizado y jeringa prellenada con diluyente.",
    ),
    (
        "Vacuna meningocócica conjugada tetravalente",
        "Vacuna meningocócica conjugada contra Neisseria meningitidis serogrupos A, C, W-135 e Y. "
        "Solución inyectable. Cada dosis de 0.5 ml.",
        "Envase con frasco ámpula con 0.5 ml.",
    ),
    (
        "Vacuna antitifoídica",
        "Vacuna de polisacárido capsular Vi contra la fiebre tifoidea. Solución inyectable. Cada "
        "dosis de 0.5 ml contiene: polisacárido Vi de Salmonella Typhi 25 µg.",
        "Envase con jeringa prellenada con 0.5 ml.",
    ),
    (
        "Tuberculina PPD",
        "Derivado proteico purificado de tuberculina (PPD). Solución inyectable. Cada 0.1 ml "
        "contiene: 2 UT de PPD RT 23.",
        "Envase con frasco ámpula con 1.5 ml (15 pruebas).",
    ),
    (
        "Inmunoglobulina humana antirrábica",
        "Inmunoglobulina humana antirrábica. Solución inyectable. Cada frasco ámpula contiene: "
        "inmunoglobulina humana antirrábica 300 UI.",
        "Envase con frasco ámpula con 2 ml.",
    ),
    (
        "Inmunoglobulina humana antitetánica",
        "Inmunoglobulina humana antitetánica. Solución inyectable. Cada frasco ámpula o jeringa "
        "contiene: inmunoglobulina humana antitetánica 250 UI.",
        "Envase con frasco ámpula o jeringa prellenada con 1 ml.",
    ),
    (
        "Inmunoglobulina humana anti-D",
        "Inmunoglobulina humana anti-D (Rho). Solución inyectable. Cada frasco ámpula o jeringa "
        "contiene: inmunoglobulina humana anti-D 300 µg.",
        "Envase con jeringa prellenada con 2 ml.",
    ),
    (
        "Faboterápico polivalente antialacrán",
        "Faboterápico polivalente antialacrán. Solución inyectable. Cada frasco ámpula con "
        "liofilizado contiene: faboterápico equino que neutraliza 150 DL50 de veneno de alacrán "
        "del género Centruroides.",
        "Envase con frasco ámpula con liofilizado y ampolleta con 5 ml de diluyente.",
    ),
    (
        "Faboterápico polivalente antiviperino",
        "Faboterápico polivalente antiviperino. Solución inyectable. Cada frasco ámpula con "
        "liofilizado contiene: faboterápico equino que neutraliza el veneno de serpientes de los "
        "géneros Crotalus y Bothrops.",
        "Envase con frasco ámpula con liofilizado y ampolleta con 10 ml de diluyente.",
    ),
    (
        "Faboterápico antiarácnido",
        "Faboterápico antiarácnido. Solución inyectable. Cada frasco ámpula con liofilizado "
        "contiene: faboterápico equino que neutraliza 6 000 DL50 de veneno de araña del género "
        "Latrodectus.",
        "Envase con frasco ámpula con liofilizado y ampolleta con 5 ml de diluyente.",
    ),
    (
        "Antitoxina diftérica equina",
        "Antitoxina diftérica equina. Solución inyectable. Cada frasco ámpula contiene: "
        "antitoxina diftérica 10 000 UI.",
        "Envase con frasco ámpula con 10 ml.",
    ),
    (
        "Faboterápico anticoralillo",
        "Faboterápico anticoralillo. Solución inyectable. Cada frasco ámpula con liofilizado "
        "contiene: faboterápico equino que neutraliza el veneno de serpientes del género "
        "Micrurus.",
        "Envase con frasco ámpula con liofilizado y ampolleta con 5 ml de diluyente.",
    ),
)


# --- material de curación, radiology and laboratory: families of items -----------------------


@dataclass(frozen=True, slots=True)
class _Family:
    """Items that differ only in their parameters; every combination is one clave."""

    group: str
    subgroup: str
    name: str
    template: str
    options: tuple[tuple[str, ...], ...]
    median: float


def _family(code: str, name: str, template: str, median: float, *options: str) -> _Family:
    """A family from its ``GGG.SSS`` prefix and its options, each a "|"-separated list."""
    group, subgroup = code.split(".")
    return _Family(
        group, subgroup, name, template, tuple(tuple(o.split("|")) for o in options), median
    )


_MATERIAL: tuple[_Family, ...] = (
    _family(
        "060.550",
        "Jeringas",
        "Jeringas. De plástico grado médico, estériles y desechables, con pivote tipo {0}. "
        "Capacidad: {1} ml. Escala graduada en ml. {2}. {3}",
        18.0,
        "luer lock|luer simple",
        "1|3|5|10|20|50",
        "Sin aguja|Con aguja de calibre 21 G y longitud 32 mm|"
        "Con aguja de calibre 22 G y longitud 32 mm|Con aguja de calibre 20 G y longitud 38 mm",
        "Pieza.|Envase con 100 piezas.",
    ),
    _family(
        "060.550",
        "Jeringas para insulina",
        "Jeringas. Para insulina, de plástico grado médico, estériles y desechables. Capacidad: "
        "{0}. Aguja de calibre {1} G y longitud {2} mm. Envase con 100 piezas.",
        260.0,
        "0.3 ml graduada de 0 a 30 UI|0.5 ml graduada de 0 a 50 UI|1 ml graduada de 0 a 100 UI",
        "29|30|31",
        "6|8|13",
    ),
    _family(
        "060.040",
        "Agujas hipodérmicas",
        "Agujas. Hipodérmicas de acero inoxidable, estériles y desechables, con pabellón luer "
        "lock de plástico. Longitud: {0} mm. Calibre: {1} G. Envase con 100 piezas.",
        95.0,
        "13|16|25|32|38",
        "18|20|21|22|23|25|27",
    ),
    _family(
        "060.040",
        "Agujas para raquianestesia",
        "Agujas. Para raquianestesia, punta tipo {0}, estériles y desechables. Calibre: {1} G. "
        "Longitud: {2} mm. Pieza.",
        55.0,
        "Quincke|Whitacre|Sprotte",
        "22|23|25|26|27",
        "88|90|120",
    ),
    _family(
        "060.436",
        "Gasas",
        "Gasas. Seca cortada de algodón 100 %. Tejida, doblada en {0} capas. {1}. Largo: {2}. "
        "Envase con {3} piezas.",
        45.0,
        "8|12",
        "Estéril|No estéril",
        "5 cm. Ancho: 5 cm|7.5 cm. Ancho: 5 cm|10 cm. Ancho: 7.5 cm|10 cm. Ancho: 10 cm",
        "10|200",
    ),
    _family(
        "060.953",
        "Vendas",
        "Vendas. {0}. Longitud: {1} m. Ancho: {2} cm. Pieza.",
        14.0,
        "Elástica de algodón y fibra sintética|Elástica adhesiva de algodón|De gasa de algodón|"
        "De guata de algodón|Enyesada de fraguado rápido|Tubular elástica de algodón",
        "2.7|5",
        "5|7.5|10|15|20|30",
    ),
    _family(
        "060.164",
        "Sondas para drenaje urinario",
        "Sondas. Para drenaje urinario. De {0} con globo de autorretención de {1} ml con válvula "
        "para jeringa. Estéril y desechable. Tipo: Foley de {2} vías. Calibre: {3} Fr. Pieza.",
        38.0,
        "látex|elastómero de silicón",
        "3|5|30",
        "dos|tres",
        "8|10|12|14|16|18|20|22|24",
    ),
    _family(
        "060.830",
        "Sondas para alimentación",
        "Sondas. Para alimentación. De {0}, estéril y desechable, con {1}. Longitud: {2} cm. "
        "Calibre: {3} Fr. Pieza.",
        25.0,
        "cloruro de polivinilo|poliuretano|silicón",
        "un orificio distal|orificios laterales y punta cerrada",
        "38|40|50|90|120",
        "5|6|8|10|12",
    ),
    _family(
        "060.168",
        "Sondas",
        "Sondas. Para {0}. De plástico grado médico, estéril y desechable. Calibre: {1} Fr. Pieza.",
        12.0,
        "aspiración de secreciones con válvula de control|drenaje gástrico tipo Levin|"
        "drenaje urinario tipo Nelaton|drenaje torácico con marca radiopaca",
        "8|10|12|14|16|18|20|22|24|26|28|30",
    ),
    _family(
        "060.166",
        "Catéteres para venoclisis",
        "Catéteres. Para venoclisis. De {0} radiopaco con aguja{1}. Estéril y desechable. "
        "Longitud: {2} mm. Calibre: {3} G. {4}",
        22.0,
        "fluoropolímero|poliuretano",
        "| y dispositivo de seguridad que la inactiva al retirarla",
        "19|25|32|45|51",
        "14|16|18|20|22|24",
        "Pieza.|Envase con 50 piezas.",
    ),
    _family(
        "060.165",
        "Catéteres venosos centrales",
        "Catéteres. Venoso central de poliuretano radiopaco, de {0} lumen, con equipo para "
        "instalación por técnica de Seldinger. Longitud: {1} cm. Calibre: {2} Fr. {3} Equipo.",
        650.0,
        "un|dos|tres",
        "8|13|15|16|20|30",
        "4|5|7|8.5",
        "Adulto.|Pediátrico.",
    ),
    _family(
        "060.841",
        "Suturas absorbibles",
        "Suturas. {0}. Longitud de la hebra: {1} cm. Calibre de la sutura: {2}. Características "
        "de la aguja: {3}. Envase con 12 piezas.",
        420.0,
        "Catgut crómico con aguja|Ácido poliglicólico trenzado con aguja|"
        "Poliglactina 910 trenzada con aguja",
        "45|68 a 75|70",
        "5-0|4-0|3-0|2-0|0|1",
        "1/2 círculo ahusada (25-27 mm)|3/8 de círculo reverso cortante (19-20 mm)|"
        "1/2 círculo ahusada (35-37 mm)",
    ),
    _family(
        "060.842",
        "Suturas no absorbibles",
        "Suturas. {0}. Longitud de la hebra: {1} cm. Calibre de la sutura: {2}. Características "
        "de la aguja: {3}. Envase con 12 piezas.",
        380.0,
        "Seda negra trenzada con aguja|Nylon monofilamento con aguja|"
        "Polipropileno monofilamento con aguja",
        "45|75|90",
        "6-0|5-0|4-0|3-0|2-0|0",
        "3/8 de círculo reverso cortante (12-13 mm)|1/2 círculo ahusada (25-27 mm)|"
        "3/8 de círculo reverso cortante (24-26 mm)",
    ),
    _family(
        "060.456",
        "Guantes para cirugía",
        "Guantes. Para cirugía. De {0}, estériles y desechables. Talla: {1}. Par.",
        9.0,
        "látex natural con polvo|látex natural sin polvo|nitrilo sin látex",
        "6|6 1/2|7|7 1/2|8|8 1/2|9",
    ),
    _family(
        "060.456",
        "Guantes para exploración",
        "Guantes. Para exploración, ambidiestros, de {0}, {1}, desechables. Tamaño: {2}. Envase "
        "con 100 piezas.",
        120.0,
        "látex natural|nitrilo|polietileno",
        "estériles|no estériles",
        "chico|mediano|grande",
    ),
    _family(
        "060.088",
        "Apósitos",
        "Apósitos. {0}. Estéril. Medidas: {1} cm. {2}",
        48.0,
        "Transparente de poliuretano con adhesivo|De hidrocoloide|De espuma de poliuretano|"
        "De alginato de calcio|Con plata iónica|Para fijación de catéter venoso",
        "5 x 5|6 x 7|10 x 10|10 x 12|15 x 15|20 x 20",
        "Pieza.|Envase con 10 piezas.|Caja con 50 piezas.",
    ),
    _family(
        "060.869",
        "Telas adhesivas",
        "Telas. Adhesiva {0}. Longitud: 10 m. Ancho: {1} cm. {2}",
        22.0,
        "de acetato|microporosa de rayón|impermeable de plástico transparente|de seda",
        "1.25|2.5|5|7.5",
        "Rollo.|Envase con 12 rollos.",
    ),
    _family(
        "060.345",
        "Equipos",
        "Equipos. Para {0}. Estéril y desechable. Longitud del tubo: {1} cm, {2}. Equipo.",
        35.0,
        "venoclisis con normogotero|venoclisis con microgotero|"
        "transfusión sanguínea con filtro de 170 a 210 micras|"
        "administración de soluciones con bureta de 150 ml|bomba de infusión volumétrica|"
        "diálisis peritoneal|hemodiálisis con líneas arterial y venosa|punción lumbar|"
        "bloqueo peridural|cateterismo vesical|drenaje pleural|irrigación vesical|"
        "nutrición enteral por gravedad|curación",
        "150|180|200",
        "con aguja|sin aguja|libre de DEHP",
    ),
    _family(
        "060.125",
        "Bolsas",
        "Bolsas. Para {0}. Capacidad: {1} ml. {2}",
        28.0,
        "recolección de orina con válvula antirreflujo|colostomía, drenable, con adhesivo|"
        "urostomía, con válvula de vaciado|nutrición parenteral de etilvinil acetato|"
        "alimentación enteral|enema con tubo y obturador",
        "500|1000|2000|3000",
        "Pieza.|Envase con 10 piezas.|Envase con 50 piezas.",
    ),
    _family(
        "060.167",
        "Tubos endotraqueales",
        "Tubos. Endotraqueales de cloruro de polivinilo, {0}, estériles y desechables. Diámetro "
        "interno: {1} mm. Pieza.",
        45.0,
        "con globo de alto volumen y baja presión|reforzados con espiral metálica|"
        "sin globo, con marca radiopaca",
        "2.5|3|3.5|4|4.5|5|5.5|6|6.5|7|7.5|8|8.5|9|9.5|10",
    ),
    _family(
        "060.167",
        "Cánulas",
        "Cánulas. {0}, de plástico grado médico, desechable. Tamaño: {1}. Pieza.",
        15.0,
        "Orofaríngea tipo Guedel|Nasal para oxígeno con tubo de 2 m|Nasofaríngea de látex",
        "neonatal|pediátrico|adulto chico|adulto mediano|adulto grande",
    ),
    _family(
        "060.621",
        "Cubrebocas y mascarillas",
        "{0}. Desechable. {1}. {2}",
        30.0,
        "Cubrebocas quirúrgico de tres capas con filtro bacteriano|"
        "Mascarilla para oxígeno con nebulizador|Mascarilla para oxígeno con reservorio|"
        "Respirador N95 para partículas",
        "Adulto|Pediátrico",
        "Pieza.|Envase con 50 piezas.",
    ),
    _family(
        "060.330",
        "Electrodos",
        "Electrodos. Para monitoreo de electrocardiograma, desechables, de {0}, con gel sólido "
        "conductor y adhesivo. {1}. Envase con {2} piezas.",
        110.0,
        "espuma|tela no tejida",
        "Adulto|Pediátrico|Neonatal",
        "50|100",
    ),
    _family(
        "060.483",
        "Hojas para bisturí",
        "Hojas. Para bisturí, de {0}, estériles y desechables. Número: {1}. Envase con 100 piezas.",
        160.0,
        "acero inoxidable|acero al carbono",
        "10|11|12|15|20|21|22|23|24",
    ),
    _family(
        "060.066",
        "Antisépticos",
        "Antisépticos. {0}. Envase con {1}.",
        60.0,
        "Alcohol etílico desnaturalizado al 70 %|Yodopovidona en solución al 10 %|"
        "Gluconato de clorhexidina al 2 % con alcohol isopropílico al 70 %|"
        "Gluconato de clorhexidina al 4 % en solución jabonosa|"
        "Solución electrolizada de superoxidación con pH neutro|"
        "Jabón líquido neutro (pH 7) para uso prequirúrgico|Peróxido de hidrógeno al 3 %",
        "120 ml|250 ml|500 ml|1 l|3.85 l|18 l",
    ),
    _family(
        "060.681",
        "Pañales",
        "Pañales. Desechables, {0}. Talla: {1}. Envase con {2} piezas.",
        95.0,
        "para adulto|infantiles",
        "chica|mediana|grande|extra grande",
        "10|20|40",
    ),
    _family(
        "060.626",
        "Medias antiembólicas",
        "Medias. Antiembólicas de compresión graduada hasta {0}. Compresión: {1} mmHg. Talla: "
        "{2}. Par.",
        180.0,
        "la rodilla|el muslo",
        "15-20|18-23|20-30",
        "chica|mediana|grande|extra grande",
    ),
    _family(
        "060.908",
        "Tubos para drenaje",
        "Tubos. Para drenaje tipo {0}, estéril y desechable. Diámetro: {1} mm. Pieza.",
        30.0,
        "Penrose de látex natural|Jackson-Pratt de silicón, con reservorio|"
        "cerrado con fuelle de succión",
        "3|6|9|12|19|25",
    ),
    _family(
        "060.446",
        "Grapas",
        "Grapas. {0}. {1} Pieza.",
        900.0,
        "Engrapadora desechable para piel con grapas de acero inoxidable|"
        "Cartucho de grapas de titanio para ligadura de vasos|"
        "Carga para engrapadora lineal cortante",
        "Tamaño chico.|Tamaño mediano.|Tamaño grande.|Tamaño extra grande.",
    ),
    _family(
        "060.598",
        "Llaves de tres vías",
        "Llaves. De tres vías, de policarbonato, {0}, estéril y desechable. Pieza.",
        12.0,
        "sin extensión|con extensión de 10 cm|con extensión de 25 cm|con extensión de 50 cm|"
        "con extensión de 80 cm|con extensión de 150 cm",
    ),
    _family(
        "060.207",
        "Circuitos para ventilador",
        "Circuitos. Para ventilador mecánico, {0}, desechable, con {1}. Longitud: {2} cm. Pieza.",
        420.0,
        "adulto|pediátrico|neonatal",
        "trampa de agua|cable calefactor",
        "120|160|180",
    ),
    _family(
        "060.889",
        "Tiras reactivas para glucosa",
        "Tiras reactivas. Para determinación de glucosa en sangre capilar, con rango de medición "
        "de {0} mg/dl. Envase con {1} tiras.",
        190.0,
        "10 a 600|20 a 600",
        "25|50|100",
    ),
    _family(
        "060.231",
        "Ropa quirúrgica desechable",
        "Ropa quirúrgica. {0} de tela no tejida de polipropileno, desechable. Talla: {1}. {2}",
        40.0,
        "Bata quirúrgica|Bata para paciente|Pijama quirúrgica",
        "chica|mediana|grande|extra grande",
        "Pieza.|Envase con 10 piezas.",
    ),
    _family(
        "060.155",
        "Campos quirúrgicos",
        "Campos. Quirúrgicos de tela no tejida, estériles y desechables, {0}. Medidas: {1} cm. "
        "Pieza.",
        35.0,
        "sin fenestra|con fenestra y adhesivo",
        "45 x 45|60 x 90|90 x 90|150 x 200",
    ),
)

_LABORATORY: tuple[_Family, ...] = (
    _family(
        "080.830",
        "Reactivos químicos sólidos",
        "Reactivos químicos. {0}. {1}. Frasco con {2}. TA.",
        380.0,
        "Cloruro de sodio|Hidróxido de sodio|Carbonato de sodio anhidro|Bicarbonato de sodio|"
        "Ácido oxálico|Sulfato de cobre|Nitrato de plata|Citrato de sodio|EDTA disódico|"
        "Ácido periódico|Cloruro de calcio|Fosfato monobásico de potasio|Fenol",
        "RA|RA. ACS",
        "100 g|500 g|1 kg",
    ),
    _family(
        "080.830",
        "Reactivos químicos líquidos",
        "Reactivos químicos. {0}. {1}. Frasco con {2}. TA.",
        420.0,
        "Ácido clorhídrico|Ácido sulfúrico|Ácido acético glacial|Alcohol etílico absoluto|"
        "Alcohol metílico|Alcohol isopropílico|Acetona|Xilol|Formaldehído al 37 %|Glicerina",
        "RA|RA. ACS",
        "500 ml|1 l|4 l",
    ),
    _family(
        "080.829",
        "Colorantes",
        "Reactivos químicos. {0}. Colorante biológico. Frasco con {1}. TA.",
        380.0,
        "Hematoxilina de Harris|Eosina amarillenta|Azul de metileno|Cristal violeta|Safranina|"
        "Fucsina básica|Lugol|Colorante de Wright|Solución de Giemsa|Orange G-6|EA-50|"
        "Azul alciano|Verde de malaquita|Rojo Congo|Reactivo de Schiff|Auramina O",
        "25 g|100 ml|500 ml|1 l",
    ),
    _family(
        "080.784",
        "Reactivos para química clínica",
        "Reactivos y juegos de reactivos para pruebas específicas. {0}, {1}. Estuche para {2} "
        "determinaciones. RTC.",
        3200.0,
        "Glucosa|Urea|Creatinina|Ácido úrico|Colesterol total|Colesterol HDL|Colesterol LDL|"
        "Triglicéridos|Bilirrubina total|Bilirrubina directa|Proteínas totales|Albúmina|"
        "Alanina aminotransferasa (ALT)|Aspartato aminotransferasa (AST)|Fosfatasa alcalina|"
        "Gamma glutamil transferasa|Deshidrogenasa láctica|Creatina cinasa|"
        "Creatina cinasa fracción MB|Amilasa|Lipasa|Calcio|Fósforo|Magnesio|Hierro|"
        "Hemoglobina glucosilada (HbA1c)|Proteína C reactiva|Factor reumatoide|"
        "Antiestreptolisinas O|Troponina I|Péptido natriurético tipo B|Procalcitonina|Dímero D|"
        "Ferritina|Tirotropina (TSH)|Tiroxina libre (T4L)|Triyodotironina total (T3)|"
        "Antígeno prostático específico|Gonadotropina coriónica humana fracción beta|Vitamina B12|"
        "Insulina|Cortisol|Prolactina|Estradiol|Progesterona|Testosterona",
        "para equipo automatizado|técnica manual",
        "100|200|500|1000",
    ),
    _family(
        "080.784",
        "Pruebas rápidas",
        "Pruebas rápidas. {0}. Prueba rápida cualitativa por inmunocromatografía en {1}. Estuche "
        "para {2} pruebas.",
        900.0,
        "Anticuerpos contra VIH 1 y 2|Anticuerpos contra Treponema pallidum|"
        "Anticuerpos contra virus de la hepatitis C|Antígeno de superficie de hepatitis B|"
        "Antígeno de SARS-CoV-2|Antígenos de influenza A y B|Antígeno NS1 de dengue|"
        "Anticuerpos IgG e IgM contra dengue|Antígeno de Streptococcus del grupo A|Troponina I",
        "sangre total, suero o plasma|exudado",
        "20|25|40|100",
    ),
    _family(
        "080.784",
        "Pruebas de embarazo",
        "Pruebas rápidas. Gonadotropina coriónica humana fracción beta. Prueba rápida cualitativa "
        "en {0}, sensibilidad de {1} mUI/ml. Estuche para {2} pruebas.",
        300.0,
        "orina|orina o suero",
        "20|25",
        "20|25|50|100",
    ),
    _family(
        "080.610",
        "Medios de cultivo",
        "Medios de cultivo. {0}. {1}. TA.",
        1100.0,
        "Agar sangre base|Agar chocolate base|Agar MacConkey|Agar Mueller Hinton|"
        "Agar sal y manitol|Agar dextrosa Sabouraud|Agar eosina azul de metileno|"
        "Agar Salmonella-Shigella|Agar xilosa lisina desoxicolato|"
        "Agar tiosulfato citrato bilis sacarosa|Agar nutritivo|Agar cetrimida|Caldo tioglicolato|"
        "Caldo soya tripticaseína|Caldo infusión cerebro corazón|Caldo Mueller Hinton|"
        "Medio de transporte Stuart|Medio de transporte Amies|Agar urea de Christensen|"
        "Agar citrato de Simmons|Agar hierro triple azúcar|Agar hierro lisina|Medio SIM|"
        "Caldo rojo de metilo Voges-Proskauer",
        "Frasco con 100 g|Frasco con 450 g|Frasco con 500 g|"
        "Caja con 10 placas con medio preparado|Caja con 20 placas con medio preparado",
    ),
    _family(
        "080.316",
        "Discos con antimicrobianos",
        "Discos con antimicrobianos. {0}. {1}. RTC.",
        520.0,
        "Amikacina 30 µg|Ampicilina 10 µg|Cefazolina 30 µg|Cefepima 30 µg|Cefotaxima 30 µg|"
        "Ceftazidima 30 µg|Ceftriaxona 30 µg|Cefoxitina 30 µg|Ciprofloxacino 5 µg|"
        "Clindamicina 2 µg|Eritromicina 15 µg|Gentamicina 10 µg|Imipenem 10 µg|Meropenem 10 µg|"
        "Levofloxacino 5 µg|Linezolid 30 µg|Nitrofurantoína 300 µg|Oxacilina 1 µg|Penicilina 10 U|"
        "Piperacilina y tazobactam 100/10 µg|Tetraciclina 30 µg|"
        "Trimetoprima y sulfametoxazol 1.25/23.75 µg|Vancomicina 30 µg|"
        "Amoxicilina y ácido clavulánico 20/10 µg|Aztreonam 30 µg",
        "Cartucho con 50 sensidiscos|Envase con 5 cartuchos con 50 sensidiscos",
    ),
    _family(
        "080.081",
        "Sueros para tipificar",
        "Sueros para tipificar la sangre, medios proteicos, enzimas y antígenos. {0}. Frasco con "
        "{1} ml. RTC.",
        650.0,
        "Anti-A monoclonal|Anti-B monoclonal|Anti-AB monoclonal|Anti-D (Rh) monoclonal IgM|"
        "Anti-D (Rh) monoclonal IgG e IgM|Suero de Coombs poliespecífico|"
        "Coombs monoespecífico de tipo IgG|Albúmina bovina al 22 %|Anti-C|Anti-c|Anti-E|Anti-e|"
        "Anti-Kell|Anti-Fya|Anti-Jka|Anti-Lea|Células control A1 y B|"
        "Panel de células para identificación de anticuerpos",
        "2|5|10",
    ),
    _family(
        "080.070",
        "Anticuerpos para inmunohistoquímica",
        "Sustancias biológicas. Anticuerpo monoclonal {0} para inmunohistoquímica en tejido "
        "fijado en formol. {1}. RTC.",
        7800.0,
        "CD3|CD4|CD5|CD8|CD10|CD15|CD20|CD30|CD31|CD34|CD45|CD56|CD68|CD79a|CD99|CD117|CD138|"
        "Ki-67|p53|p63|contra receptor de estrógenos|contra receptor de progesterona|HER2/neu|"
        "citoqueratina AE1/AE3|citoqueratina 7|citoqueratina 20|vimentina|desmina|"
        "actina de músculo liso|proteína S-100|sinaptofisina|cromogranina A|TTF-1|PAX-8|CDX2|"
        "Melan-A|HMB-45|calretinina|WT1|Bcl-2|Bcl-6|ciclina D1|MUM1|ALK|PD-L1",
        "Frasco con 1 ml concentrado|Frasco con 7 ml listo para usar",
    ),
    _family(
        "080.909",
        "Tubos para recolección de sangre",
        "Tubos. Para recolección de sangre al vacío, de plástico, {0}. Capacidad: {1} ml. "
        "Dimensiones: {2} mm. Envase con 100 piezas.",
        340.0,
        "con EDTA K2|con citrato de sodio al 3.2 %|con heparina de litio|"
        "con gel separador y activador de coágulo|sin aditivo|con fluoruro de sodio",
        "2|3|4|5|6",
        "13 x 75|13 x 100",
    ),
    _family(
        "080.909",
        "Tubos de ensaye",
        "Tubos. De ensaye de vidrio refractario sin labio. Dimensiones: {0} mm. {1}",
        9.0,
        "10 x 75|12 x 75|13 x 100|16 x 150|18 x 150|20 x 150",
        "Pieza.|Envase con 100 piezas.",
    ),
    _family(
        "080.709",
        "Pipetas",
        "Pipetas. {0} de {1} ml. {2}",
        60.0,
        "Serológica de poliestireno, estéril, graduada|Serológica de vidrio graduada|"
        "Volumétrica de vidrio clase A",
        "1|2|5|10|25",
        "Pieza.|Envase con 50 piezas.",
    ),
    _family(
        "080.735",
        "Puntas para micropipeta",
        "Puntas. Para micropipeta de {0} µl, de polipropileno, {1}. Bolsa con 1 000 piezas.",
        480.0,
        "10|200|1000",
        "sin filtro|con filtro, estériles",
    ),
    _family(
        "080.729",
        "Portaobjetos y cubreobjetos",
        "{0}. De vidrio, {1}. Caja con {2} piezas.",
        70.0,
        "Portaobjetos de 75 x 25 mm|Cubreobjetos de 22 x 22 mm|Cubreobjetos de 24 x 50 mm",
        "lisos|esmerilados en un extremo",
        "50|100",
    ),
    _family(
        "080.889",
        "Tiras reactivas para orina",
        "Tiras reactivas. Para determinar en orina {0}. Frasco con {1} tiras. TATC.",
        420.0,
        "como mínimo 10 parámetros|glucosa y cetonas|proteínas y glucosa|"
        "microalbúmina y creatinina",
        "50|100",
    ),
    _family(
        "080.574",
        "Lancetas",
        "Lancetas. Desechables, estériles, de {0} de profundidad{1}. Caja con 100 piezas.",
        150.0,
        "1.8 mm|2.4 mm",
        "|, con dispositivo retráctil de seguridad",
    ),
    _family(
        "080.825",
        "Radiofármacos",
        "Radiofármacos y generadores de radionúclidos. {0}. Actividad de {1} MBq. Frasco. TATC.",
        9500.0,
        "Generador de molibdeno-99/tecnecio-99m|Yoduro de sodio (I-131)|Citrato de galio (Ga-67)|"
        "Cloruro de talio (Tl-201)|Fludesoxiglucosa (F-18)|Sestamibi para marcar con tecnecio-99m|"
        "Medronato para marcar con tecnecio-99m|Pentetato (DTPA) para marcar con tecnecio-99m|"
        "Succímero (DMSA) para marcar con tecnecio-99m|"
        "Macroagregados de albúmina para marcar con tecnecio-99m",
        "185|370|740|1 850",
    ),
)

_RADIOLOGY: tuple[_Family, ...] = (
    _family(
        "070.707",
        "Películas",
        "Películas. {0}. Medidas: {1} cm. Caja con {2} películas.",
        2300.0,
        "Radiográfica ortocromática sensible al verde para radiología general|"
        "Radiográfica para mastografía|Láser seca para impresión de imágenes digitales|"
        "Radiográfica de base azul para radiología general",
        "18 x 24|20 x 25|24 x 30|28 x 35|35 x 35|35 x 43",
        "100|125|150",
    ),
    _family(
        "070.707",
        "Películas dentales",
        "Películas. Radiográfica dental {0}. Medidas: {1} cm. Caja con {2} películas.",
        900.0,
        "periapical adulto|periapical infantil|oclusal",
        "3 x 4|2.2 x 3.5|5.7 x 7.6",
        "100|150",
    ),
    _family(
        "070.581",
        "Medios de contraste yodados",
        "Medios de contraste. Hidrosoluble no iónico. {0} en concentración de {1} mg de yodo por "
        "ml. Frasco con {2} ml.",
        780.0,
        "Iohexol|Iopamidol|Ioversol|Iopromida|Iodixanol",
        "300|320|350|370",
        "20|50|100|200|500",
    ),
    _family(
        "070.592",
        "Medios de contraste paramagnéticos",
        "Medios de contraste. Paramagnético para resonancia magnética. {0}. {1}.",
        1900.0,
        "Gadobutrol 1 mmol/ml|Ácido gadotérico 0.5 mmol/ml|Gadoteridol 0.5 mmol/ml|"
        "Ácido gadoxético 0.25 mmol/ml",
        "Frasco ámpula con 7.5 ml|Frasco ámpula con 10 ml|Frasco ámpula con 15 ml|"
        "Jeringa prellenada con 10 ml|Jeringa prellenada con 20 ml",
    ),
    _family(
        "070.590",
        "Sulfato de bario",
        "Medios de contraste. Para estudios de tubo digestivo. Sulfato de bario {0}. {1}.",
        450.0,
        "en polvo con correctivos de sabor|de alta densidad en polvo para doble contraste|"
        "en suspensión al 60 %",
        "Bote con 5 kg|Vaso con 340 g|Envase con 1 900 ml",
    ),
    _family(
        "070.817",
        "Soluciones para revelado y fijado",
        "Soluciones para revelado y fijado. {0} {1}. {2}.",
        950.0,
        "Revelador concentrado|Fijador concentrado",
        "para sistema manual|para procesadora automática",
        "Envase con 828 ml|Envase con 1 l|Para preparar 19 l|Para preparar 76 l",
    ),
)


def _family_items(family: _Family) -> Iterator[tuple[str, float]]:
    """Every description of a family with a price factor for its position in each option."""
    ranges = [range(len(option)) for option in family.options]
    for picks in itertools.product(*ranges):
        values = [family.options[i][j] for i, j in enumerate(picks)]
        # Later options are larger sizes and presentations, so they cost a little more.
        factor = math.prod(1.0 + 0.15 * j for j in picks)
        yield family.template.format(*values), factor


# --- units of measure and prices -------------------------------------------------------------

_UNIT_WORDS = (
    ("Envase", "Envase"),
    ("Para preparar", "Envase"),
    ("Vaso", "Envase"),
    ("Caja", "Caja"),
    ("Frasco", "Frasco"),
    ("Estuche", "Estuche"),
    ("Cartucho", "Cartucho"),
    ("Bolsa", "Bolsa"),
    ("Bote", "Bote"),
    ("Jeringa", "Pieza"),
    ("Par", "Par"),
    ("Equipo", "Equipo"),
    ("Rollo", "Rollo"),
    ("Pieza", "Pieza"),
)


def _package_of(text: str) -> tuple[str, str]:
    """The package that ends a description (before any trailing storage code) and its unit."""
    for fragment in reversed(text.rstrip(".").split(". ")[-2:]):
        for words, unit in _UNIT_WORDS:
            if fragment == words or fragment.startswith(f"{words} "):
                return f"{fragment}.", unit
    raise ValueError(f"no package at the end of {text!r}")


def _price(rng: random.Random, median: float, sigma: float) -> Decimal:
    value = rng.lognormvariate(math.log(median), sigma)
    return to_money(Decimal(f"{max(value, 0.5):.2f}"))


# --- building --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    group: str
    subgroup: str
    # What package variants share: they get one EEEE and differ in VV.
    item: str
    name: str
    description: str
    presentation: str
    unit: str
    price: Decimal
    variant: int


def _medicine_drafts(rng: random.Random, group: str, count: int) -> list[_Draft]:
    """``count`` medicines: every drug once before any gets a second package (a new ``VV``)."""
    drugs = [d for d in _DRUGS if d.group == group]
    rng.shuffle(drugs)
    offers = [(d, rng.sample(_FORMS[d.form].packages, len(_FORMS[d.form].packages))) for d in drugs]
    drafts: list[_Draft] = []
    for variant in itertools.count():
        candidates = [(d, p) for d, p in offers if variant < len(p)]
        if len(drafts) >= count or not candidates:
            break
        for drug, packages in candidates[: count - len(drafts)]:
            presentation, size = packages[variant]
            median = drug.median * _FORM_PRICE.get(drug.form, 1.0) * size**0.8
            drafts.append(
                _Draft(
                    group=group,
                    subgroup="000",
                    item=_drug_description(drug, ""),
                    name=drug.name,
                    description=_drug_description(drug, presentation),
                    presentation=presentation,
                    unit="Pieza",
                    price=_price(rng, median, 0.5),
                    variant=variant,
                )
            )
    if len(drafts) < count:
        raise ValueError(f"only {len(drafts)} medicines of group {group} can be generated")
    return drafts


def _vaccine_drafts(rng: random.Random, count: int) -> list[_Draft]:
    """``count`` vaccines; presentations of one vaccine share EEEE and differ in VV."""
    if count > len(_VACCINES):
        raise ValueError(f"only {len(_VACCINES)} vaccines can be generated")
    variants: Counter[str] = Counter()
    drafts = []
    for name, description, package in rng.sample(_VACCINES, count):
        drafts.append(
            _Draft(
                group="020",
                subgroup="000",
                item=description,
                name=name,
                description=f"{description} {package}",
                presentation=package,
                unit="Envase",
                price=_price(rng, 420.0, 0.9),
                variant=variants[description],
            )
        )
        variants[description] += 1
    return drafts


def _family_drafts(
    rng: random.Random, families: Sequence[_Family], group: str, count: int
) -> list[_Draft]:
    pool = [(f, *item) for f in families if f.group == group for item in _family_items(f)]
    if count > len(pool):
        raise ValueError(f"only {len(pool)} items of group {group} can be generated")
    drafts = []
    for family, text, factor in rng.sample(pool, count):
        presentation, unit = _package_of(text)
        drafts.append(
            _Draft(
                group=group,
                subgroup=family.subgroup,
                item=text,
                name=family.name,
                description=text,
                presentation=presentation,
                unit=unit,
                price=_price(rng, family.median * factor, 0.45),
                variant=0,
            )
        )
    return drafts


def _assign_claves(rng: random.Random, drafts: list[_Draft]) -> list[ClaveSpec]:
    """Give every draft its clave and most a CUCoP; package variants of one item share EEEE."""
    per_subgroup = Counter((d.group, d.subgroup) for d in drafts)
    numbers = {key: iter(rng.sample(range(1, 10000), n)) for key, n in per_subgroup.items()}
    cucops = {
        "medicine": iter(rng.sample(range(25300100, 25310000), len(drafts))),
        "other": iter(rng.sample(range(25400100, 25410000), len(drafts))),
    }
    number_of_item: dict[tuple[str, str], int] = {}
    specs: list[ClaveSpec] = []
    for draft in drafts:
        key = (draft.group, draft.item)
        if key not in number_of_item:
            number_of_item[key] = next(numbers[draft.group, draft.subgroup])
        number = number_of_item[key]
        if draft.group in _MEDICINE_GROUPS:
            clave = f"{draft.group}.{draft.subgroup}.{number:04d}.{draft.variant:02d}"
        else:
            clave = f"{draft.group}.{draft.subgroup}.{number:04d}"
        pool = "medicine" if draft.group in _MEDICINE_GROUPS else "other"
        cucop = next(cucops[pool]) if rng.random() < _CUCOP_SHARE else None
        specs.append(
            ClaveSpec(
                clave=clave,
                group=draft.group,
                category=GROUP_CATEGORY[draft.group],
                name=draft.name,
                description=draft.description,
                presentation=draft.presentation,
                unit=draft.unit,
                cucop=cucop,
                reference_price=draft.price,
            )
        )
    return specs


def build_catalog(rng: random.Random, scale: Scale) -> tuple[ClaveSpec, ...]:
    """The claves of the scenario in clave order, drawn from ``rng``."""
    counts = CLAVE_COUNTS[scale]
    drafts = [
        *_medicine_drafts(rng, "010", counts["010"]),
        *_medicine_drafts(rng, "040", counts["040"]),
        *_vaccine_drafts(rng, counts["020"]),
        *_family_drafts(rng, _MATERIAL, "060", counts["060"]),
        *_family_drafts(rng, _RADIOLOGY, "070", counts["070"]),
        *_family_drafts(rng, _LABORATORY, "080", counts["080"]),
    ]
    return tuple(sorted(_assign_claves(rng, drafts), key=lambda spec: spec.clave))
