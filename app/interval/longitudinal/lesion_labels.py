"""Which labels of a segmentation are lesions, and lymph nodes, by their names.

No numerics: the viewer asks this (to outline lesion labels) without loading the
measuring code of :mod:`.lesions` and its scipy.
"""

from __future__ import annotations

import re

from interval.core.labels import LabelTable

# A label is a lesion when its name contains one of these words (case-insensitive).
LESION_WORDS = re.compile(
    r"lesion|tumou?r|metasta|nodule|\bmass(es)?\b|lymph|\bnodes?\b|neoplasm|carcinoma|"
    r"cancer|malignan|\bgtv\b|\bhcc\b",
    re.IGNORECASE,
)
NODE_WORDS = re.compile(r"lymph|\bnodes?\b", re.IGNORECASE)


def is_lymph_node_name(name: str) -> bool:
    """Whether a label name means a lymph node: it contains "lymph" or the word "node(s)"."""
    return bool(NODE_WORDS.search(name))


def lesion_label_values(table: LabelTable) -> dict[int, str]:
    """The values of ``table`` whose name means a lesion, with their names.

    Rule: the name contains (case-insensitive) lesion, tumor/tumour, metasta(sis/ses),
    nodule, mass, lymph, node(s), neoplasm, carcinoma, cancer, malignan(t/cy), GTV or
    HCC.  Benign findings (cyst, ...) are not lesions here.
    """
    return {info.value: info.name for info in table if LESION_WORDS.search(info.name)}
