"""Where b2bscore 0.1 kept the registered pyfunc: models it registered pickled this name, so it stays importable
here (the pyfunc lives in :mod:`b2bscore.model.pyfunc`)."""

from b2bscore.model.pyfunc import ScoringPyfunc  # noqa: F401
