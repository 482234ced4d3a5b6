"""Author identity: which authorship mentions belong to one person.

- ``names``: name parsing and normalisation (nameparser, unidecode), compatibility grades, blocking keys;
- ``cluster``: the engine, ``disambiguate(mentions, must_link=(), cannot_link=()) -> {mention_id: cluster_id}``,
  the ``Mention`` record, the simple-union baseline, and the AMiner file helpers ``disambiguate_path`` and
  ``write_clusters_jsonl``;
- ``metrics``: pairwise and B-cubed precision / recall / F1, macro and micro;
- ``aminer``: the lenient reader of the AMiner name-disambiguation XML files;
- ``train``: fits the shipped ``pair_scorer.json`` with cross-validation over names
  (``python -m scholarlens.identity.train``).
"""

from .cluster import (
    ClusterRows, Mention, cluster_id_for, disambiguate, disambiguate_path, load_model, simple_union,
    write_clusters_jsonl,
)
from .metrics import aggregate, bcubed, evaluate, pairwise

__all__ = [
    "ClusterRows", "Mention", "aggregate", "bcubed", "cluster_id_for", "disambiguate", "disambiguate_path",
    "evaluate", "load_model", "pairwise", "simple_union", "write_clusters_jsonl",
]
