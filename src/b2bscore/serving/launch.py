"""Starting the scoring service: ``b2bscore serve`` becomes ``bentoml serve`` with the settings as service arguments."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

from b2bscore.errors import ConfigError
from b2bscore.serving.config import ServeConfig, resolve_serve_config

SERVICE = "b2bscore.serving.service:ScoringService"


def bentoml_serve_argv(settings: ServeConfig, *, host: str, port: int, bentoml: str = "bentoml") -> list[str]:
    """The ``bentoml serve`` command line that runs the service with ``settings``. Each setting is one
    ``--arg key=value``. The API key is left out: the service reads it from its environment."""
    argv = [bentoml, "serve", SERVICE, "--host", host, "--port", str(port)]
    for name, value in settings.service_arguments().items():
        argv += ["--arg", f"{name}={value}"]
    return argv


def serve(settings: ServeConfig, *, host: str = "127.0.0.1", port: int = 3000) -> NoReturn:
    """Replace this process with ``bentoml serve`` of the scoring service.

    The settings are first checked against this process's environment (the home becomes absolute, and a retired
    variable is refused), so a mistake is reported here rather than by a worker. The environment is passed on
    unchanged, which is how the service gets ``$B2BSCORE_API_KEY``."""
    resolved = resolve_serve_config(settings.service_arguments(), os.environ, source="serve settings")
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        raise ConfigError("the bentoml command is not installed in this environment (pip install bentoml)")
    os.execv(bentoml, bentoml_serve_argv(resolved, host=host, port=port, bentoml=bentoml))
