"""The Bento's entry point: the b2bscore scoring service (``b2bscore.serving.service.ScoringService``).

``bentoml build -f serving/bentofile.yaml`` (run from the repository root) packs this file with the package's
sources beside it. In a checkout, ``bentoml serve serving.service:ScoringService`` serves it with the installed
package. ``b2bscore serve`` needs neither this file nor this folder.
"""

from b2bscore.serving.service import ScoringService

__all__ = ["ScoringService"]
