"""Entry point of the Bento (``bentoml build`` / ``bentoml serve service:ScoringService``): the b2bscore service.

Inside a built Bento the package sources sit beside this file under ``src/``; in a checkout the installed
package is used.
"""

import sys
from pathlib import Path

_SOURCES = Path(__file__).resolve().parent / "src"
if (_SOURCES / "b2bscore").is_dir() and str(_SOURCES) not in sys.path:
    sys.path.insert(0, str(_SOURCES))

from b2bscore.serving.service import ScoringService  # noqa: E402

__all__ = ["ScoringService"]
