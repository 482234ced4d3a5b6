"""OpenAlex API client: authors (by name, ORCID or id), all of an author's works, works, institutions.

Built on ``net.http.HttpClient`` (httpx) rather than pyalex: every service then shares the same retries with
backoff on 429/5xx and Retry-After, the same pacing and concurrency limit, and the one on-disk cache that makes
a rerun free; pyalex brings its own requests session, retry policy and no cache, and hides the raw answer
that the fetcher saves to disk before reading it.

- Key and contact: ``api_key`` and ``mailto`` go as query parameters on every request (OpenAlex now asks for
  an API key and meters list calls); both come from the config or the environment
  (``OPENALEX_API_KEY``, ``OPENALEX_MAILTO``). The cache key and error messages never show the key.
- Rate: ``requests_per_second`` and ``max_concurrency`` from ``[openalex]`` in the config (10/s by default).
- Lists: cursor paging (``cursor=*`` then ``meta.next_cursor``) with ``per-page`` up to 200, so an author
  with thousands of works is read in full, which page-number paging (capped at 10,000 results) cannot.
- ``select=``: off by default. The raw answers are saved and re-read later, possibly by a newer reader that
  wants a field a narrow select would have dropped; pass ``select=WORK_FIELDS`` to trade that for bandwidth
  (it holds every field ``sources.openalex`` reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple

from ..config import Config, ServiceConfig, load_config
from .http import CachedResponse, HttpClient, HttpError

# Every root field sources/openalex.py reads from a work (select= accepts root fields only).
WORK_FIELDS = (
    "id,doi,ids,display_name,title,publication_date,publication_year,type,primary_location,best_oa_location,"
    "locations,authorships,is_authors_truncated,referenced_works,primary_topic,concepts,abstract_inverted_index,"
    "counts_by_year,cited_by_count,fwci,citation_normalized_percentile,updated_date"
)
MAX_PER_PAGE = 200

_AUTHOR_ID = re.compile(r"^(?:https?://openalex\.org/)?(?P<id>A\d+)$", re.I)
_WORK_ID = re.compile(r"^(?:https?://openalex\.org/)?(?P<id>W\d+)$", re.I)
_INSTITUTION_ID = re.compile(r"^(?:https?://openalex\.org/)?(?P<id>I\d+)$", re.I)
_ORCID = re.compile(r"^(?:https?://orcid\.org/)?(?P<orcid>\d{4}-\d{4}-\d{4}-\d{3}[\dX])$", re.I)
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(?P<doi>10\.\S+)$", re.I)


class Page(NamedTuple):
    """One answer of a listing: its 1-based position, the raw answer (as sent, for saving) and its parsed body."""

    number: int
    response: CachedResponse
    data: Any


def openalex_author_id(value: str) -> str | None:
    """"A5017898742" from an OpenAlex author id or URL; None when it is not one."""
    m = _AUTHOR_ID.match(value.strip())
    return m.group("id").upper() if m else None


def openalex_work_id(value: str) -> str | None:
    m = _WORK_ID.match(value.strip())
    return m.group("id").upper() if m else None


def orcid_of(value: str) -> str | None:
    """"0000-0001-6187-6610" from a bare ORCID or its URL; None when it is not one."""
    m = _ORCID.match(value.strip())
    return m.group("orcid").upper() if m else None


def doi_of(value: str) -> str | None:
    m = _DOI.match(value.strip())
    return m.group("doi").lower() if m else None


def http_client_for(service: ServiceConfig, cache_dir=None, *, headers: Mapping[str, str] | None = None,
                    params: Mapping[str, str] | None = None, **options) -> HttpClient:
    """An HttpClient with a service's base URL, limits and timeouts; ``options`` override (tests pass
    ``sleep=`` or ``transport=``)."""
    settings = dict(
        timeout=float(service.timeout),
        max_retries=int(service.max_retries),
        requests_per_second=float(service.requests_per_second or 0),
        max_concurrency=int(service.max_concurrency),
        cache_dir=cache_dir,
    )
    settings.update(options)
    return HttpClient(service.base_url, headers=headers, params=params, **settings)


def service_settings(config, section: str, cache_dir) -> tuple[ServiceConfig, object]:
    """(service config, cache dir) from a Config, a ServiceConfig or None (read the config files)."""
    if config is None:
        config = load_config()
    if isinstance(config, Config):
        return getattr(config, section), cache_dir if cache_dir is not None else config.cache_dir
    if isinstance(config, ServiceConfig):
        return config, cache_dir
    raise TypeError(f"expected a Config, a ServiceConfig or an HttpClient, not {type(config).__name__}")


def parse_json(http: HttpClient, response: CachedResponse, path: str, params) -> Any:
    """The body as JSON. A cached answer that is not JSON (a proxy's error page saved by an earlier run) is
    asked again over the network once before giving up."""
    try:
        return response.json()
    except HttpError:
        if not response.from_cache:
            raise
    return http.get(path, params, use_cache=False).json()


@dataclass
class AuthorCandidate:
    """One answer to "who is this name?": enough to tell namesakes apart."""

    id: str  # "A5017898742"
    display_name: str
    orcid: str | None
    institution: str | None  # the last known institution
    country: str | None
    works_count: int | None
    cited_by_count: int | None
    alternatives: list[str]

    @classmethod
    def from_api(cls, obj: dict) -> AuthorCandidate:
        last = obj.get("last_known_institutions") or []
        if not last and isinstance(obj.get("last_known_institution"), dict):
            last = [obj["last_known_institution"]]
        first = next((i for i in last if isinstance(i, dict)), {})
        orcid = obj.get("orcid")
        return cls(
            id=openalex_author_id(str(obj.get("id") or "")) or str(obj.get("id")),
            display_name=str(obj.get("display_name") or ""),
            orcid=orcid_of(orcid) if isinstance(orcid, str) else None,
            institution=first.get("display_name"),
            country=first.get("country_code"),
            works_count=obj.get("works_count"),
            cited_by_count=obj.get("cited_by_count"),
            alternatives=[a for a in obj.get("display_name_alternatives") or [] if isinstance(a, str)],
        )


class OpenAlexClient:
    """``OpenAlexClient()`` reads the config files and environment; pass a Config, a ServiceConfig or a ready
    HttpClient instead. Extra keywords (``sleep=``, ``transport=``, ...) go to the HttpClient."""

    def __init__(self, config: Config | ServiceConfig | HttpClient | None = None, *, cache_dir=None, **http_options):
        if isinstance(config, HttpClient):
            self.http = config
        else:
            service, cache = service_settings(config, "openalex", cache_dir)
            params = {"api_key": service.api_key, "mailto": service.mailto}
            self.http = http_client_for(service, cache, params={k: v for k, v in params.items() if v}, **http_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OpenAlexClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raw ---------------------------------------------------------------------------------------------------
    def request(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[CachedResponse, Any]:
        """One GET: the raw answer and its parsed JSON. Raises NotFound for a 404, HttpError otherwise."""
        response = self.http.get(path, params)
        return response, parse_json(self.http, response, path, params)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, per_page: int = MAX_PER_PAGE) -> Iterator[Page]:
        """Every page of a list endpoint, by cursor. Stops at the last page (no ``next_cursor``, or no results)."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {per_page}")
        base = {**(params or {}), "per-page": per_page}
        cursor: str | None = "*"
        seen: set[str] = set()
        number = 0
        while cursor:
            number += 1
            query = {**base, "cursor": cursor}
            response, data = self.request(path, query)
            yield Page(number, response, data)
            meta = data.get("meta") if isinstance(data, dict) else None
            results = data.get("results") if isinstance(data, dict) else None
            seen.add(cursor)
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not results or cursor in seen:  # an empty page ends the list; a repeated cursor would loop
                cursor = None

    # -- authors -----------------------------------------------------------------------------------------------
    def search_authors(self, name: str, *, per_page: int = 20) -> list[AuthorCandidate]:
        """Authors whose name matches, best match first (OpenAlex's relevance order)."""
        _, data = self.request("/authors", {"search": name, "per-page": per_page})
        return [AuthorCandidate.from_api(r) for r in data.get("results") or [] if isinstance(r, dict)]

    def author_request(self, author: str) -> tuple[CachedResponse, dict]:
        """An author by OpenAlex id ("A5017898742", or its URL) or ORCID (bare or as a URL)."""
        short = openalex_author_id(author)
        if short:
            return self.request(f"/authors/{short}")
        orcid = orcid_of(author)
        if orcid:
            return self.request(f"/authors/orcid:{orcid}")
        raise ValueError(f"not an OpenAlex author id or an ORCID: {author!r}")

    def author(self, author: str) -> dict:
        return self.author_request(author)[1]

    def works_of_author_pages(self, author_id: str, *, per_page: int = MAX_PER_PAGE,
                              select: str | None = None) -> Iterator[Page]:
        """Every page of the author's works (``filter=authorships.author.id:A...``)."""
        short = openalex_author_id(author_id)
        if not short:
            raise ValueError(f"not an OpenAlex author id: {author_id!r}")
        return self.works_pages(f"authorships.author.id:{short}", per_page=per_page, select=select)

    def works_of_author(self, author_id: str, **kwargs) -> Iterator[dict]:
        for page in self.works_of_author_pages(author_id, **kwargs):
            yield from page.data.get("results") or []

    # -- works -------------------------------------------------------------------------------------------------
    def works_pages(self, filter: str | None = None, *, search: str | None = None, per_page: int = MAX_PER_PAGE,
                    select: str | None = None, sort: str | None = None) -> Iterator[Page]:
        params = {"filter": filter, "search": search, "select": select, "sort": sort}
        return self.pages("/works", {k: v for k, v in params.items() if v}, per_page=per_page)

    def works(self, filter: str | None = None, **kwargs) -> Iterator[dict]:
        for page in self.works_pages(filter, **kwargs):
            yield from page.data.get("results") or []

    def work_request(self, work: str) -> tuple[CachedResponse, dict]:
        """A work by OpenAlex id ("W2741809807" or its URL) or DOI ("10.7717/peerj.4375", "doi:...", or a
        doi.org URL)."""
        short = openalex_work_id(work)
        if short:
            return self.request(f"/works/{short}")
        doi = doi_of(work)
        if doi:
            return self.request(f"/works/doi:{doi}")
        raise ValueError(f"not an OpenAlex work id or a DOI: {work!r}")

    def work(self, work: str) -> dict:
        return self.work_request(work)[1]

    # -- institutions ------------------------------------------------------------------------------------------
    def institution(self, institution: str) -> dict:
        m = _INSTITUTION_ID.match(institution.strip())
        if not m:
            raise ValueError(f"not an OpenAlex institution id: {institution!r}")
        return self.request(f"/institutions/{m.group('id').upper()}")[1]

    def institutions_pages(self, filter: str | None = None, *, search: str | None = None,
                           per_page: int = MAX_PER_PAGE) -> Iterator[Page]:
        params = {"filter": filter, "search": search}
        return self.pages("/institutions", {k: v for k, v in params.items() if v}, per_page=per_page)
