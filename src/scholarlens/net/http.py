"""The one HTTP layer every client uses: timeouts, retries with backoff, pacing, a concurrency limit, a cache.

Written on httpx directly rather than through each service's own client library, so that OpenAlex, Semantic
Scholar, arXiv and the LLM endpoint share the same retry rules, the same rate limits and one on-disk cache that
makes a rerun of a fetch free (and a killed fetch resume where it stopped).

- Retries: transport errors, 429 and 5xx, up to ``max_retries`` times, sleeping a "full jitter" exponential
  backoff (uniform in [0, min(cap, base * 2**attempt)]) or the server's Retry-After when it sends one.
- Pacing: at most ``requests_per_second`` requests start per second across all threads sharing the client.
- Concurrency: at most ``max_concurrency`` requests in flight (a semaphore; the client is thread-safe).
- Cache: successful answers are stored under ``cache_dir`` keyed by method, URL (secrets removed) and body.
  Writes are atomic (temp file + rename), so a kill never leaves half an entry.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import httpx

from .. import __version__

USER_AGENT = f"scholarlens/{__version__} (+https://github.com/scholarlens)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# query parameters and headers that must never reach the cache key or an error message
SECRET_NAMES = frozenset({"api_key", "apikey", "key", "x-api-key", "authorization", "token"})


class HttpError(Exception):
    """A request that failed for good. ``status`` is None when no answer came at all."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "", body: str = ""):
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body


class NotFound(HttpError):
    pass


@dataclass
class HttpStats:
    requests: int = 0  # sent over the network, retries included
    retries: int = 0
    cache_hits: int = 0
    slept: float = 0.0  # seconds spent in backoff and pacing
    by_status: dict[int, int] = field(default_factory=dict)


def redact(url: str | httpx.URL) -> str:
    """The URL with secret query parameters replaced, for cache keys and messages."""
    url = httpx.URL(str(url))
    params = [(k, "REDACTED" if k.lower() in SECRET_NAMES else v) for k, v in url.params.multi_items()]
    return str(url.copy_with(params=params)) if params else str(url)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ResponseCache:
    """Answers on disk, one JSON file each, named by the hash of the request."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    @staticmethod
    def key(method: str, url: str, body: bytes | None) -> str:
        h = hashlib.sha256(f"{method.upper()} {redact(url)}\n".encode())
        if body:
            h.update(body)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):  # a damaged entry is a miss, not a failure
            return None

    def forget(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def put(self, key: str, entry: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(tmp, path)


@dataclass
class CachedResponse:
    """What a caller gets back, live or from the cache."""

    status: int
    url: str
    text: str
    headers: Mapping[str, str]
    from_cache: bool = False
    # drops this answer from the cache; set when it was cached
    _forget: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def forget(self) -> None:
        """Drop this answer from the on-disk cache: a caller that finds a 200 unusable (not JSON, not Atom, a
        truncated body) calls it, so that a rerun asks the service again instead of replaying the bad answer."""
        if self._forget is not None:
            self._forget()

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            self.forget()
            raise HttpError(f"{self.url}: answer is not JSON ({exc})", status=self.status, url=self.url) from None


class HttpClient:
    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        requests_per_second: float = 0.0,
        max_concurrency: int = 4,
        cache_dir: str | os.PathLike | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )
        self.default_params = {k: v for k, v in (params or {}).items() if v is not None}
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.min_interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._pace_lock = threading.Lock()
        self._next_start = 0.0
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = HttpStats()
        self._stats_lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None, *, use_cache: bool = True) -> CachedResponse:
        return self.request("GET", path, params=params, use_cache=use_cache)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, use_cache: bool = True) -> Any:
        return self.get(path, params, use_cache=use_cache).json()

    def post_json(self, path: str, payload: Any, *, use_cache: bool = True, headers: Mapping[str, str] | None = None) -> Any:
        body = json.dumps(payload, sort_keys=True).encode()
        return self.request(
            "POST", path, content=body, headers={"Content-Type": "application/json", **(headers or {})},
            use_cache=use_cache,
        ).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        use_cache: bool = True,
    ) -> CachedResponse:
        merged = {**self.default_params, **{k: v for k, v in (params or {}).items() if v is not None}}
        request = self._client.build_request(method, path, params=merged or None, content=content, headers=headers)
        url = redact(request.url)
        key = ResponseCache.key(method, str(request.url), content) if self.cache is not None and use_cache else None
        if key is not None:
            entry = self.cache.get(key)
            if entry is not None:
                with self._stats_lock:
                    self.stats.cache_hits += 1
                return CachedResponse(entry["status"], entry["url"], entry["text"], entry.get("headers", {}), True,
                                      lambda: self.cache.forget(key))
        response = self._send_with_retries(request, url)
        answer = CachedResponse(
            response.status_code, url, response.text,
            {"content-type": response.headers.get("content-type", "")},
        )
        if key is not None:
            self.cache.put(key, {"status": answer.status, "url": url, "text": answer.text, "headers": dict(answer.headers)})
            answer._forget = lambda: self.cache.forget(key)
        return answer

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2**attempt)))

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._stats_lock:
                self.stats.slept += seconds
            self._sleep(seconds)

    def _pace(self) -> None:
        if not self.min_interval:
            return
        with self._pace_lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.min_interval
        self._wait(start - now)

    def _send_with_retries(self, request: httpx.Request, url: str) -> httpx.Response:
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._pace()
            with self._slots:
                try:
                    response = self._client.send(request)
                except httpx.TransportError as exc:  # timeouts, refused and reset connections
                    response = None
                    last_problem = f"{type(exc).__name__}: {exc}"
            with self._stats_lock:
                self.stats.requests += 1
                if response is not None:
                    self.stats.by_status[response.status_code] = self.stats.by_status.get(response.status_code, 0) + 1
            if response is not None:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise _error_for(response, url)
                last_problem = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                break
            with self._stats_lock:
                self.stats.retries += 1
            told = retry_after_seconds(response.headers.get("retry-after")) if response is not None else None
            self._wait(min(self.backoff_cap, told) if told is not None else self._backoff(attempt))
        if response is not None:
            raise _error_for(response, url, retries=self.max_retries)
        raise HttpError(f"{url}: no answer after {self.max_retries + 1} attempts ({last_problem})", url=url)


def _error_for(response: httpx.Response, url: str, retries: int = 0) -> HttpError:
    body = response.text[:500]
    detail = body.strip().replace("\n", " ")[:200]
    tried = f" after {retries + 1} attempts" if retries else ""
    message = f"{url}: HTTP {response.status_code}{tried}" + (f": {detail}" if detail else "")
    cls = NotFound if response.status_code == 404 else HttpError
    return cls(message, status=response.status_code, url=url, body=body)
