"""The web app: server-rendered pages (Jinja2, escaped) and a JSON API under /api, over a read-only store.

Bad parameters get a 4xx with a message (FastAPI validates the query; unknown authors and works are 404),
never a 500.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..store import connect
from ..store import queries

HERE = Path(__file__).resolve().parent
PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 200


def _bar_chart(series: list[dict], width: int = 560, height: int = 140) -> dict | None:
    """Geometry of a citations-per-year bar chart, drawn as inline SVG by the template (no JS)."""
    if not series:
        return None
    top = max(p["citations"] for p in series) or 1
    step = width / len(series)
    bars = []
    for i, p in enumerate(series):
        h = (height - 20) * p["citations"] / top
        bars.append({"x": round(i * step + 1, 1), "y": round(height - 16 - h, 1), "w": round(max(step - 2, 1), 1),
                     "h": round(h, 1), "year": p["year"], "n": p["citations"]})
    labels = [b for i, b in enumerate(bars) if i % max(1, len(bars) // 8) == 0 or i == len(bars) - 1]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "max": top}


def create_app(store: str | Path | None) -> FastAPI:
    con = connect(store, read_only=True)
    queries.require_analysed(con)  # a store never built would answer every page with a missing table
    app = FastAPI(
        title="scholarlens",
        version=__version__,
        description="Researcher profiles from open scholarly data. Every figure carries its provenance.",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["q"] = lambda s: quote(str(s), safe="")
    templates.env.globals["version"] = __version__
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def cursor():
        # One cursor per request: DuckDB connections are not shared across threads, cursors are cheap.
        return con.cursor()

    @app.exception_handler(queries.NotFound)
    async def not_found(request: Request, exc: queries.NotFound):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return templates.TemplateResponse(request, "error.html", {"message": str(exc)}, status_code=404)

    # ---- pages -------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        c = cursor()
        authors = c.execute(
            """SELECT a.author_id, a.name, m.works_count, m.h_index
               FROM authors a JOIN author_metrics m USING (author_id)
               ORDER BY m.works_count DESC, a.name LIMIT 24"""
        ).fetchall()
        counts = dict(c.execute(
            "SELECT 'works', count(*) FROM works UNION ALL SELECT 'authors', count(*) FROM authors "
            "UNION ALL SELECT 'citations', count(*) FROM citations UNION ALL SELECT 'quarantined', count(*) FROM quarantine"
        ).fetchall())
        return templates.TemplateResponse(request, "home.html", {"authors": authors, "counts": counts})

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = Query("", max_length=200)):
        hits = queries.search_authors(cursor(), q, limit=50) if q.strip() else []
        return templates.TemplateResponse(request, "search.html", {"q": q, "hits": hits})

    @app.get("/authors/{author_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def profile_page(
        request: Request,
        author_id: str,
        page: int = Query(1, ge=1, le=100_000),
        per_page: int = Query(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX),
    ):
        prof = queries.author_profile(cursor(), author_id, page=page, per_page=per_page)
        pages = max(1, math.ceil(prof["works_total"] / per_page))
        return templates.TemplateResponse(
            request,
            "profile.html",
            {"p": prof, "pages": pages, "chart": _bar_chart(prof["citations_by_year"]), "today": dt.date.today()},
        )

    @app.get("/works/{work_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def work_page(request: Request, work_id: str):
        return templates.TemplateResponse(request, "work.html", {"w": queries.work_detail(cursor(), work_id)})

    # ---- JSON API ----------------------------------------------------------------------------------------
    @app.get("/api/authors", summary="Search authors by name or id")
    def api_search(q: str = Query(..., min_length=1, max_length=200), limit: int = Query(20, ge=1, le=200)):
        return [h.__dict__ for h in queries.search_authors(cursor(), q, limit=limit)]

    @app.get("/api/authors/{author_id:path}", summary="An author's profile with paper cards")
    def api_author(
        author_id: str,
        page: int = Query(1, ge=1, le=100_000),
        per_page: int = Query(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX),
    ):
        return queries.author_profile(cursor(), author_id, page=page, per_page=per_page)

    @app.get("/api/profile", summary="The profile of the best match for a name")
    def api_profile(
        name: str = Query(..., min_length=1, max_length=200),
        page: int = Query(1, ge=1, le=100_000),
        per_page: int = Query(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX),
    ):
        c = cursor()
        return queries.author_profile(c, queries.resolve_author(c, name), page=page, per_page=per_page)

    @app.get("/api/works/{work_id:path}", summary="One work with its keys, sources and reported figures")
    def api_work(work_id: str):
        return queries.work_detail(cursor(), work_id)

    @app.get("/api/stats", summary="Row counts of the store")
    def api_stats():
        from ..store import table_counts

        return table_counts(cursor())

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    return app
