"""The AI Score of a paper.

- model.py: the offline model, the default (no network, no torch): ``load_model().score(papers)``.
- features.py: what it reads of a paper; train.py: rebuilds it from data/iclr_openreview and cross-validates it.
- llm.py: the LLM reviewer backend (an OpenAI-compatible endpoint).

See docs/ai-score.md for what the score means and what it does not.
"""

from __future__ import annotations

__all__ = ["load_model"]


def __getattr__(name: str):
    if name == "load_model":  # lazy: importing the package loads neither numpy nor the model
        from .model import load_model

        return load_model
    raise AttributeError(name)
