"""Where b2bscore 0.1 kept the scoring model: models it registered pickled these names, so they stay importable
here (the model lives in :mod:`b2bscore.model.estimator`)."""

from b2bscore.model.estimator import ModelInputs, ScoringModel, _Calibrator  # noqa: F401
