"""b2bscore: predictive scoring for B2B sales and marketing.

``b2bscore.load``, ``train``, ``segment``, ``score`` and ``monitor`` are the small Python API
(:mod:`b2bscore.api`), each the job its ``b2bscore`` command runs. They are looked up on first use (PEP 562),
so ``import b2bscore`` stays light: it loads neither pandas nor MLflow.
"""

import importlib

__version__ = "0.1.0"

_API = ("load", "train", "segment", "score", "monitor")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module("b2bscore.api"), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    raise AttributeError(f"module 'b2bscore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
