"""Settings for the network parts: API keys, contact address, rate limits, the LLM endpoint.

Read from a TOML file (``--config``, else ``$SCHOLARLENS_CONFIG``, else the user config dir's
``scholarlens/config.toml``) and then from the environment, which wins. Nothing here is required offline.

    [openalex]
    api_key = "..."          # or OPENALEX_API_KEY
    mailto = "me@lab.org"    # or OPENALEX_MAILTO
    requests_per_second = 10
    [semanticscholar]
    api_key = "..."          # or S2_API_KEY / SEMANTIC_SCHOLAR_API_KEY
    requests_per_second = 1
    [llm]
    base_url = "http://127.0.0.1:8000/v1"   # or SCHOLARLENS_LLM_BASE_URL / OPENAI_BASE_URL
    model = "qwen2.5-7b-instruct"           # or SCHOLARLENS_LLM_MODEL
    api_key = "..."                         # or SCHOLARLENS_LLM_API_KEY / OPENAI_API_KEY
    max_concurrency = 4
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs


class ConfigError(ValueError):
    pass


@dataclass
class ServiceConfig:
    base_url: str = ""
    api_key: str | None = None
    mailto: str | None = None
    model: str | None = None
    requests_per_second: float = 0.0  # 0: no pacing beyond retries
    max_concurrency: int = 4
    timeout: float = 30.0
    max_retries: int = 6


@dataclass
class Config:
    openalex: ServiceConfig = field(
        default_factory=lambda: ServiceConfig(base_url="https://api.openalex.org", requests_per_second=10)
    )
    semanticscholar: ServiceConfig = field(
        default_factory=lambda: ServiceConfig(
            base_url="https://api.semanticscholar.org/graph/v1", requests_per_second=1, max_concurrency=1
        )
    )
    arxiv: ServiceConfig = field(
        # arXiv asks for no more than one request every three seconds
        default_factory=lambda: ServiceConfig(
            base_url="https://export.arxiv.org/api", requests_per_second=1 / 3, max_concurrency=1
        )
    )
    llm: ServiceConfig = field(default_factory=lambda: ServiceConfig(timeout=120.0, max_concurrency=4))
    cache_dir: Path | None = None


# environment variables, first match wins, per (section, field)
ENVIRONMENT = {
    ("openalex", "api_key"): ("SCHOLARLENS_OPENALEX_API_KEY", "OPENALEX_API_KEY"),
    ("openalex", "mailto"): ("SCHOLARLENS_OPENALEX_MAILTO", "OPENALEX_MAILTO"),
    ("openalex", "base_url"): ("SCHOLARLENS_OPENALEX_BASE_URL",),
    ("semanticscholar", "api_key"): ("SCHOLARLENS_S2_API_KEY", "S2_API_KEY", "SEMANTIC_SCHOLAR_API_KEY"),
    ("semanticscholar", "base_url"): ("SCHOLARLENS_S2_BASE_URL",),
    ("arxiv", "base_url"): ("SCHOLARLENS_ARXIV_BASE_URL",),
    ("llm", "base_url"): ("SCHOLARLENS_LLM_BASE_URL", "OPENAI_BASE_URL"),
    ("llm", "model"): ("SCHOLARLENS_LLM_MODEL",),
    ("llm", "api_key"): ("SCHOLARLENS_LLM_API_KEY", "OPENAI_API_KEY"),
}


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("scholarlens")) / "config.toml"


def load_config(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None) -> Config:
    environ = dict(os.environ) if environ is None else environ
    config = Config()
    explicit = path or environ.get("SCHOLARLENS_CONFIG")
    file = Path(explicit) if explicit else default_config_path()
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        _apply(config, data, str(file))
    elif explicit:
        raise ConfigError(f"config file not found: {file}")
    for (section, name), variables in ENVIRONMENT.items():
        for variable in variables:
            if environ.get(variable):
                setattr(getattr(config, section), name, environ[variable])
                break
    if environ.get("SCHOLARLENS_CACHE_DIR"):
        config.cache_dir = Path(environ["SCHOLARLENS_CACHE_DIR"])
    return config


def _apply(config: Config, data: dict, origin: str) -> None:
    for key, value in data.items():
        if key == "cache_dir":
            config.cache_dir = Path(value)
            continue
        service = getattr(config, key, None)
        if not isinstance(service, ServiceConfig) or not isinstance(value, dict):
            raise ConfigError(f"{origin}: unknown section [{key}]")
        known = {f.name: f.type for f in fields(ServiceConfig)}
        for name, item in value.items():
            if name not in known:
                raise ConfigError(f"{origin}: [{key}] has no setting {name!r} (known: {', '.join(known)})")
            setattr(service, name, item)
