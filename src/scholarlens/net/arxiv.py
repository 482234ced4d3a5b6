"""arXiv export API client: metadata by id list, or a search listing, as Atom feeds.

Built on ``net.http.HttpClient`` (httpx) rather than the ``arxiv`` package: every service then shares the same
retries, pacing and on-disk cache, and the fetcher gets the raw Atom to save before reading it (the package
parses with feedparser and hands back its own objects).

- Politeness: arXiv asks for at most one request every three seconds, one at a time: that is the default
  (``[arxiv] requests_per_second = 0.333``, ``max_concurrency = 1``).
- By id: ``id_list`` in batches (100 by default) with ``max_results`` set to the batch size (arXiv's default
  of 10 would cut a longer list short). Ids may carry a version ("2206.06921v2").
- Search: ``search_query`` (arXiv's syntax: ``au:``, ``ti:``, ``cat:``, ``all:``, AND/OR/ANDNOT) paged with
  ``start``/``max_results`` up to ``limit`` results or the feed's ``opensearch:totalResults``.
- The answer is Atom, read by ``sources.arxiv``; ``Page.data`` is its ``FeedInfo`` (total, ids, errors).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from ..config import Config, ServiceConfig
from ..sources.arxiv import FeedError, FeedInfo, feed_info
from .http import CachedResponse, HttpClient, HttpError
from .openalex import Page, http_client_for, service_settings

MAX_PAGE = 2000  # arXiv's documented ceiling for one answer


def _info(response: CachedResponse) -> FeedInfo:
    """The feed's FeedInfo; an answer that is not an Atom feed fails like any bad answer (HttpError)."""
    try:
        return feed_info(response.text.encode("utf-8"))
    except FeedError as exc:
        response.forget()  # a rerun asks again rather than replaying it
        raise HttpError(f"{response.url}: answer is not an Atom feed ({exc})", status=response.status,
                        url=response.url, body=response.text[:500]) from None


class ArxivClient:
    """``ArxivClient()`` reads the config files and environment; pass a Config, a ServiceConfig or a ready
    HttpClient instead. Extra keywords (``sleep=``, ``transport=``, ...) go to the HttpClient."""

    def __init__(self, config: Config | ServiceConfig | HttpClient | None = None, *, cache_dir=None, **http_options):
        if isinstance(config, HttpClient):
            self.http = config
        else:
            service, cache = service_settings(config, "arxiv", cache_dir)
            self.http = http_client_for(service, cache, **http_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ArxivClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, params: Mapping[str, object]) -> CachedResponse:
        """One call of ``/query``: the raw Atom answer."""
        return self.http.get("query", params)

    def query_params(self, *, ids: Iterable[str] = (), search: str | None = None, start: int = 0,
                     max_results: int = 100, sort_by: str | None = None, sort_order: str | None = None) -> dict:
        if not 1 <= max_results <= MAX_PAGE:
            raise ValueError(f"max_results must be between 1 and {MAX_PAGE}, not {max_results}")
        params = {
            "search_query": search,
            "id_list": ",".join(i.strip() for i in ids) or None,
            "start": start,
            "max_results": max_results,
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        return {k: v for k, v in params.items() if v is not None}

    def by_ids_pages(self, ids: Iterable[str], *, batch_size: int = 100) -> Iterator[tuple[list[str], Page]]:
        """(the ids asked for, the answer) per batch of ids."""
        ids = [i.strip() for i in ids if i and i.strip()]
        for number, at in enumerate(range(0, len(ids), batch_size), start=1):
            batch = ids[at: at + batch_size]
            response = self.request(self.query_params(ids=batch, max_results=len(batch)))
            yield batch, Page(number, response, _info(response))

    def search_pages(self, query: str, *, page_size: int = 100, limit: int | None = 100,
                     sort_by: str | None = None, sort_order: str | None = None) -> Iterator[Page]:
        """Pages of a search, until ``limit`` results (None: all of them), the feed's total, or an empty page."""
        start, number = 0, 0
        while limit is None or start < limit:
            size = page_size if limit is None else min(page_size, limit - start)
            number += 1
            response = self.request(self.query_params(search=query, start=start, max_results=size,
                                                      sort_by=sort_by, sort_order=sort_order))
            info = _info(response)
            yield Page(number, response, info)
            start += size
            if not info.entry_ids or (info.total is not None and start >= info.total):
                break
