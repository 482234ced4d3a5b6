"""Semantic Scholar Graph API client: authors, an author's papers, papers, their citations and references.

Built on ``net.http.HttpClient`` (httpx) rather than the ``semanticscholar`` package: every service then shares
the same retries with backoff on 429/5xx and Retry-After, the same pacing and one on-disk cache that makes a
rerun free, and the fetcher gets the raw answer to save before reading it (the package turns answers into its
own objects and paginates behind our back).

- Key: the ``x-api-key`` header, from ``[semanticscholar] api_key`` or ``S2_API_KEY``; never in a cache key.
- Rate: 1 request per second and one at a time by default (S2's limit for keyed and shared use).
- Lists (``/author/{id}/papers``, ``/paper/{id}/citations``, ``/paper/{id}/references``, ``/author/search``)
  page with ``offset``/``limit`` and stop where the answer has no ``next``.
- ``fields=`` is explicit on every call: S2 returns only ids and titles otherwise. The defaults hold what
  ``sources.semanticscholar`` reads.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..config import Config, ServiceConfig
from .http import CachedResponse, HttpClient
from .openalex import Page, http_client_for, parse_json, service_settings

AUTHOR_FIELDS = "authorId,externalIds,name,affiliations,homepage,paperCount,citationCount,hIndex"
PAPER_FIELDS = (
    "paperId,corpusId,externalIds,title,abstract,venue,publicationVenue,journal,year,publicationDate,"
    "fieldsOfStudy,s2FieldsOfStudy,citationCount,openAccessPdf,url,authors"
)
# The paper at the other end of a citation or reference, as the edge lists name it.
EDGE_FIELDS = "paperId,corpusId,externalIds,title,abstract,venue,year,publicationDate,fieldsOfStudy,citationCount,authors"


class S2Client:
    """``S2Client()`` reads the config files and environment; pass a Config, a ServiceConfig or a ready
    HttpClient instead. Extra keywords (``sleep=``, ``transport=``, ...) go to the HttpClient."""

    def __init__(self, config: Config | ServiceConfig | HttpClient | None = None, *, cache_dir=None, **http_options):
        if isinstance(config, HttpClient):
            self.http = config
        else:
            service, cache = service_settings(config, "semanticscholar", cache_dir)
            headers = {"x-api-key": service.api_key} if service.api_key else None
            self.http = http_client_for(service, cache, headers=headers, **http_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> S2Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raw ---------------------------------------------------------------------------------------------------
    def request(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[CachedResponse, Any]:
        response = self.http.get(path, params)
        return response, parse_json(self.http, response, path, params)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 100) -> Iterator[Page]:
        """Every page of an offset/limit list; the next offset is the answer's ``next``."""
        offset: int | None = 0
        number = 0
        while offset is not None:
            number += 1
            response, data = self.request(path, {**(params or {}), "offset": offset, "limit": limit})
            yield Page(number, response, data)
            following = data.get("next") if isinstance(data, dict) else None
            if not isinstance(following, int) or following <= offset or not data.get("data"):
                following = None
            offset = following

    # -- authors -----------------------------------------------------------------------------------------------
    def author_request(self, author_id: str, fields: str = AUTHOR_FIELDS) -> tuple[CachedResponse, dict]:
        return self.request(f"author/{author_id}", {"fields": fields})

    def author(self, author_id: str, fields: str = AUTHOR_FIELDS) -> dict:
        return self.author_request(author_id, fields)[1]

    def author_papers_pages(self, author_id: str, fields: str = PAPER_FIELDS, *, limit: int = 100) -> Iterator[Page]:
        return self.pages(f"author/{author_id}/papers", {"fields": fields}, limit=limit)

    def author_papers(self, author_id: str, fields: str = PAPER_FIELDS, *, limit: int = 100) -> Iterator[dict]:
        for page in self.author_papers_pages(author_id, fields, limit=limit):
            yield from page.data.get("data") or []

    def search_authors(self, query: str, fields: str = "name", *, limit: int = 100) -> Iterator[dict]:
        for page in self.pages("author/search", {"query": query, "fields": fields}, limit=limit):
            yield from page.data.get("data") or []

    # -- papers ------------------------------------------------------------------------------------------------
    def paper(self, paper_id: str, fields: str = PAPER_FIELDS) -> dict:
        """A paper by S2 id, ``CorpusID:n``, ``DOI:10...``, ``ARXIV:2106.15928``, or another id S2 knows."""
        return self.request(f"paper/{paper_id}", {"fields": fields})[1]

    def paper_citations_pages(self, paper_id: str, fields: str = EDGE_FIELDS, *, limit: int = 100) -> Iterator[Page]:
        return self.pages(f"paper/{paper_id}/citations", {"fields": fields}, limit=limit)

    def paper_citations(self, paper_id: str, fields: str = EDGE_FIELDS, *, limit: int = 100) -> Iterator[dict]:
        """Edges ``{"citingPaper": {...}}``."""
        for page in self.paper_citations_pages(paper_id, fields, limit=limit):
            yield from page.data.get("data") or []

    def paper_references_pages(self, paper_id: str, fields: str = EDGE_FIELDS, *, limit: int = 100) -> Iterator[Page]:
        return self.pages(f"paper/{paper_id}/references", {"fields": fields}, limit=limit)

    def paper_references(self, paper_id: str, fields: str = EDGE_FIELDS, *, limit: int = 100) -> Iterator[dict]:
        """Edges ``{"citedPaper": {...}}``."""
        for page in self.paper_references_pages(paper_id, fields, limit=limit):
            yield from page.data.get("data") or []
