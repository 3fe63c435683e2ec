"""The floor of ``benchmarks/online_bench.py``: a bare BentoML service that returns the conversion champion's LightGBM
prediction for a feature vector it holds in memory, looked up by lead id -- no validation beyond the id, no reasons,
no calibration, no online store, no middleware. What any BentoML service answering one LightGBM prediction costs
over HTTP on this machine.

    bentoml serve benchmarks.bare_service:BareService --port 3001 --arg home=HOME --arg vectors=FILE.npz
"""

from __future__ import annotations

from pathlib import Path

import bentoml
import numpy as np
from pydantic import Field

from b2bscore.home import ProjectHome
from b2bscore.serving.store import ModelStore


@bentoml.service(name="bare-lightgbm", workers=1)
class BareService:
    def __init__(self) -> None:
        arguments = vars(bentoml.use_arguments())
        store = ModelStore(ProjectHome.resolve(Path(arguments["home"])))
        store.refresh()
        model = store.snapshot.scorers["conversion"].champion.model
        self.booster, self.iteration = model.booster_, model.best_iteration_
        stored = np.load(arguments["vectors"], allow_pickle=False)
        self.rows = {str(i): stored["matrix"][k:k + 1] for k, i in enumerate(stored["ids"])}

    @bentoml.api
    def predict(self, lead_id: str = Field(description="A lead id of the stored vectors.")) -> float:
        """LightGBM's prediction for the lead's stored feature vector."""
        return float(self.booster.predict(self.rows[lead_id], num_iteration=self.iteration, num_threads=1)[0])
