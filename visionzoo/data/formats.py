"""The BraTS-family on-disk formats: file naming, modality order, label values and tumour regions.

Every format is read into one channel order, that of the research-contributions BRATS21 fold file:
``[FLAIR, T1ce, T1, T2]`` (BraTS 2023/24 ``t2f, t1c, t1n, t2w``; Decathlon 4D channels ``[0, 2, 1, 3]``).
Labels become three overlapping binary regions in the order ``TC, WT, ET`` (tumour core, whole tumour,
enhancing tumour); which integer labels make each region differs by format, so it is data here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = [
    "BratsFormat",
    "DataFormatError",
    "CHANNELS",
    "REGIONS",
    "FORMATS",
    "get_format",
    "format_names",
]

CHANNELS = ("flair", "t1ce", "t1", "t2")
"""The canonical modality order of every loaded image: FLAIR, T1ce (T1gd/t1c), T1 (t1n/T1w), T2 (t2w/T2w)."""

REGIONS = ("TC", "WT", "ET")
"""The label channels of every loaded sample: tumour core, whole tumour, enhancing tumour."""


class DataFormatError(ValueError):
    """Data on disk does not match what its format promises (shapes, label values, NaN/Inf, layout)."""


@dataclass(frozen=True)
class BratsFormat:
    """One on-disk format: how its files are named and what its integer labels mean."""

    name: str
    description: str
    # Modality file suffixes in the canonical order (flair, t1ce, t1, t2); empty for one-file 4D formats.
    suffixes: tuple[str, ...]
    # Integer labels that make each region, in REGIONS order (TC, WT, ET).
    regions: tuple[frozenset[int], frozenset[int], frozenset[int]]
    # Every label value a segmentation may contain (0 = background included).
    allowed_labels: frozenset[int]
    # Prediction -> label map: the label written for ET, for TC outside ET, for WT outside TC.
    et_label: int
    core_label: int
    oedema_label: int
    # Matches a file name; group 1 = case id, group 2 = modality suffix (or None for one-file formats).
    file_pattern: re.Pattern[str] | None = None
    # Synthetic-generator naming: case folder / file name for case number i.
    case_id_template: str = ""
    seg_suffix: str = "seg"

    @property
    def tc(self) -> frozenset[int]:
        return self.regions[0]

    @property
    def wt(self) -> frozenset[int]:
        return self.regions[1]

    @property
    def et(self) -> frozenset[int]:
        return self.regions[2]


_NII = r"\.nii(?:\.gz)?"
# BraTS 2023's naming, shared by 2024 (which adds the resection-cavity label)
_BRATS2023 = BratsFormat(
    name="brats2023",
    description="BraTS 2023 (GLI and siblings): BraTS-GLI-XXXXX-XXX/BraTS-GLI-XXXXX-XXX-{t1n,t1c,t2w,t2f,seg}"
    ".nii.gz; labels 1 NCR, 2 ED, 3 ET",
    suffixes=("t2f", "t1c", "t1n", "t2w"),
    regions=(frozenset({1, 3}), frozenset({1, 2, 3}), frozenset({3})),
    allowed_labels=frozenset({0, 1, 2, 3}),
    et_label=3, core_label=1, oedema_label=2,
    file_pattern=re.compile(rf"^(BraTS-[A-Z]+-\d+-\d+)-(t2f|t1c|t1n|t2w|seg){_NII}$"),
    case_id_template="BraTS-GLI-{:05d}-000",
)

FORMATS: dict[str, BratsFormat] = {
    f.name: f
    for f in (
        BratsFormat(
            name="brats2021",
            description="BraTS 2021: BraTS2021_XXXXX/BraTS2021_XXXXX_{flair,t1,t1ce,t2,seg}.nii.gz; "
            "labels 1 necrotic/non-enhancing core, 2 oedema, 4 enhancing",
            suffixes=("flair", "t1ce", "t1", "t2"),
            regions=(frozenset({1, 4}), frozenset({1, 2, 4}), frozenset({4})),
            allowed_labels=frozenset({0, 1, 2, 4}),
            et_label=4, core_label=1, oedema_label=2,
            file_pattern=re.compile(rf"^(BraTS20\d\d_\d+)_(flair|t1ce|t1|t2|seg){_NII}$"),
            case_id_template="BraTS2021_{:05d}",
        ),
        _BRATS2023,
        replace(
            _BRATS2023,
            name="brats2024",
            description="BraTS 2024 post-treatment GLI: 2023 naming; labels 1 NETC, 2 SNFH, 3 ET, "
            "4 resection cavity (not tumour: excluded from TC/WT/ET)",
            allowed_labels=frozenset({0, 1, 2, 3, 4}),
            case_id_template="BraTS-GLI-{:05d}-100",
        ),
        BratsFormat(
            name="decathlon",
            description="Medical Segmentation Decathlon Task01_BrainTumour: imagesTr/BRATS_XXX.nii.gz 4D "
            "(FLAIR, T1w, T1gd, T2w) + labelsTr/BRATS_XXX.nii.gz; labels 1 oedema, 2 non-enhancing, 3 enhancing",
            suffixes=(),
            regions=(frozenset({2, 3}), frozenset({1, 2, 3}), frozenset({3})),
            allowed_labels=frozenset({0, 1, 2, 3}),
            et_label=3, core_label=2, oedema_label=1,
            file_pattern=re.compile(rf"^(BRATS_\d+){_NII}$"),
            case_id_template="BRATS_{:03d}",
        ),
    )
}

_ALIASES = {
    "brats21": "brats2021", "brats2021": "brats2021",
    "brats23": "brats2023", "brats2023": "brats2023", "brats2023gli": "brats2023",
    "brats24": "brats2024", "brats2024": "brats2024", "brats2024gli": "brats2024",
    "decathlon": "decathlon", "msd": "decathlon", "task01": "decathlon", "task01braintumour": "decathlon",
}


def format_names() -> list[str]:
    """The accepted format names, ``"auto"`` first."""
    return ["auto", *FORMATS]


def get_format(name: str | BratsFormat) -> BratsFormat:
    """The format called `name` (case, ``-`` and ``_`` ignored); a clear error lists the known names."""
    if isinstance(name, BratsFormat):
        return name
    key = _ALIASES.get(str(name).lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ValueError(
            f"Unknown BraTS format {name!r}. Known formats: {', '.join(format_names())} "
            f"(auto detects the format from the file names)."
        )
    return FORMATS[key]
