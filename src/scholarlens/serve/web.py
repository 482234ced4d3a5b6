"""The web app: server-rendered pages (Jinja2, escaped) and a JSON API under /api, over a read-only store.

Bad parameters get a 4xx with a message (FastAPI validates the query; unknown authors and works are 404),
never a 500.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import threading
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from .. import __version__
from pydantic import BaseModel, Field

from ..engine.parquet_io import build_notes
from ..embed import WorkIndex, load_embedder
from ..store import connect, default_store_path
from ..store import queries

HERE = Path(__file__).resolve().parent


class PaperIn(BaseModel):
    title: str = Field("", max_length=1000)
    abstract: str = Field(..., min_length=1, max_length=20000, pattern=r"\S")
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


def _novelty_chart(points: list[dict], median: float | None, width: int = 560, height: int = 150) -> dict | None:
    """Geometry of a novelty-by-date scatter (inline SVG, no JS): one dot per paper, the author's median as a line."""
    if len(points) < 2:
        return None
    days = [dt.date.fromisoformat(p["date"]).toordinal() for p in points]
    first, last = min(days), max(days)
    span = max(last - first, 1)
    pad, plot_h = 8, height - 28

    def y(novelty: float) -> float:
        return round(pad + (100 - novelty) / 100 * plot_h, 1)

    dots = [{"x": round(pad + (d - first) / span * (width - 2 * pad), 1), "y": y(p["novelty"]), "title": p["title"],
             "novelty": p["novelty"], "date": p["date"], "id": p["id"]} for d, p in zip(days, points)]
    years = range(dt.date.fromordinal(first).year, dt.date.fromordinal(last).year + 1)
    step = max(1, len(years) // 8)
    ticks = [{"x": round(pad + (dt.date(yr, 1, 1).toordinal() - first) / span * (width - 2 * pad), 1), "year": yr}
             for yr in years[::step] if dt.date(yr, 1, 1).toordinal() >= first]
    return {"width": width, "height": height, "dots": dots, "ticks": ticks,
            "median_y": None if median is None else y(median), "median": median, "bottom": pad + plot_h}


class CorrectionIn(BaseModel):
    kind: str = Field(..., pattern="^(merge|split|add-work|remove-work|claim)$")
    subject: str = Field(..., min_length=1, max_length=300)
    target: str = Field(..., min_length=1, max_length=300)
    who: str = Field(..., min_length=1, max_length=200)
    why: str = Field(..., min_length=1, max_length=2000)


def create_app(store: str | Path | None, admin_token: str | None = None) -> FastAPI:
    """The app over a store. Without an admin token the store is opened read-only and corrections can only be
    read; with one, a request carrying the token may record corrections (and the store is opened for writing)."""
    store_path = Path(store) if store is not None else default_store_path()
    con = connect(store_path, read_only=not admin_token)
    write_lock = threading.Lock()
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
            """SELECT p.person_id, p.name, m.works_count, m.h_index
               FROM persons p JOIN author_metrics m ON m.author_id = p.person_id
               ORDER BY m.works_count DESC, p.name LIMIT 24"""
        ).fetchall()
        counts = dict(c.execute(
            "SELECT 'works', count(*) FROM works UNION ALL SELECT 'authors', count(*) FROM persons "
            "UNION ALL SELECT 'citations', count(*) FROM citations UNION ALL SELECT 'quarantined', count(*) FROM quarantine"
        ).fetchall())
        return templates.TemplateResponse(request, "home.html", {"authors": authors, "counts": counts,
                                                                 "notes": build_notes(c)})

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
            {"p": prof, "pages": pages, "chart": _bar_chart(prof["citations_by_year"]),
             "novelty_chart": _novelty_chart(prof["novelty_by_date"], prof["novelty"]), "today": dt.date.today()},
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

    index_cache: dict[str, object] = {}

    def work_index():
        """The store's nearest-earlier-works index, opened on first use (None when the store has none)."""
        if "index" not in index_cache:
            directory = WorkIndex.directory_for(store_path)
            index_cache["index"] = WorkIndex.open(directory) if (directory / "meta.json").exists() else None
        return index_cache["index"]

    @app.get("/api/works/{work_id:path}/nearest-earlier", summary="The works most similar to a work, published before a date")
    def api_nearest_earlier(
        work_id: str,
        k: int = Query(10, ge=1, le=100),
        before: dt.date | None = Query(None, description="default: the work's own publication date"),
    ):
        c = cursor()
        work = queries.work_detail(c, work_id)
        index = work_index()
        if index is None or work["id"] not in index:
            raise queries.NotFound(f"no text vector for {work['id']} (a work needs text and a date to be indexed)")
        limit = before or (dt.date.fromisoformat(work["date"]) if work["date"] else dt.date(work["year"], 1, 1))
        (found,) = index.nearest_before(index.vector_of(work["id"])[None, :], [limit], k)
        titles = {w["id"]: w for w in queries.works_by_id(c, [i for i, _ in found])}
        return {
            "id": work["id"], "before": limit.isoformat(),
            "nearest": [{"id": i, "title": titles[i]["title"], "date": titles[i]["date"], "year": titles[i]["year"],
                         "similarity": round(sim, 4)} for i, sim in found if i in titles],
        }

    scorer_cache: dict[str, object] = {}

    def score_paper(title: str, abstract: str, k: int = 5) -> dict:
        """The offline AI Score of a pasted paper, with the store's works nearest to its text."""
        if "model" not in scorer_cache:
            from ..aiscore.model import load_model

            scorer_cache["model"] = load_model()
        from ..aiscore.batch import as_row

        (result,) = [as_row(r) for r in scorer_cache["model"].score([{"id": "pasted", "title": title, "abstract": abstract}])]
        nearest = []
        index = work_index()
        embedder_dir = WorkIndex.directory_for(store_path) / "embedder"
        if index is not None and (embedder_dir / "embedder.json").exists():
            if "embedder" not in scorer_cache:
                scorer_cache["embedder"] = load_embedder(embedder_dir)
            vector = scorer_cache["embedder"].embed([abstract], [title])
            # a pasted paper is new: every indexed work up to today is "earlier"
            (found,) = index.nearest_before(vector, [dt.date.today() + dt.timedelta(days=1)], k)
            works = {w["id"]: w for w in queries.works_by_id(cursor(), [i for i, _ in found])}
            nearest = [{"id": i, "title": works[i]["title"], "year": works[i]["year"], "similarity": round(sim, 4)}
                       for i, sim in found if i in works]
        return {**result, "backend": "offline", "nearest_earlier": nearest}

    # ---- corrections -------------------------------------------------------------------------------------
    def token_ok(given: str | None) -> bool:
        return bool(admin_token) and given is not None and hmac.compare_digest(given.encode(), admin_token.encode())

    def record_correction(kind: str, subject: str, target: str, who: str, why: str) -> int:
        from ..analytics.build import analyse
        from ..identity.corrections import add_correction

        with write_lock:
            cid = add_correction(con, kind, subject, target, who=who, why=why)
            analyse(con)  # the profile shows the correction at once
        return cid

    @app.get("/corrections/{author_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def corrections_page(request: Request, author_id: str):
        prof = queries.author_profile(cursor(), author_id, page=1, per_page=1)
        return templates.TemplateResponse(request, "corrections.html", {
            "p": prof, "editable": bool(admin_token), "message": None, "problem": None})

    @app.post("/corrections/{author_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def corrections_submit(
        request: Request, author_id: str, kind: str = Form(...), target: str = Form(..., max_length=300),
        who: str = Form(..., max_length=200), why: str = Form(..., max_length=2000), token: str = Form(""),
    ):
        from ..identity.corrections import CorrectionError

        prof = queries.author_profile(cursor(), author_id, page=1, per_page=1)
        status, problem, message = 200, None, None
        if not admin_token:
            status, problem = 403, "This server is read-only: corrections need a server started with an admin token."
        elif not token_ok(token):
            status, problem = 403, "Wrong admin token."
        else:
            try:
                cid = record_correction(kind, prof["id"], target.strip(), who.strip(), why.strip())
                message = f"Correction #{cid} recorded and applied."
                prof = queries.author_profile(cursor(), queries.person_of(cursor(), author_id) or prof["id"], page=1, per_page=1)
            except CorrectionError as exc:
                status, problem = 422, str(exc)
        return templates.TemplateResponse(request, "corrections.html", {
            "p": prof, "editable": bool(admin_token), "message": message, "problem": problem}, status_code=status)

    @app.get("/api/corrections", summary="The audit trail of corrections, optionally about one author or person")
    def api_corrections(author: str | None = Query(None, max_length=300)):
        from ..identity.corrections import list_corrections

        c = cursor()
        if author is None:
            return list_corrections(c)
        return queries.author_profile(c, author, page=1, per_page=1)["corrections"]

    @app.post("/api/corrections", status_code=201, summary="Record a correction (needs the admin token as a Bearer token)")
    def api_correct(correction: CorrectionIn, authorization: str | None = Header(None)):
        from ..identity.corrections import CorrectionError

        if not admin_token:
            raise HTTPException(403, "this server is read-only: start it with an admin token to accept corrections")
        given = authorization.removeprefix("Bearer ").strip() if authorization else None
        if not token_ok(given):
            raise HTTPException(401, "a valid admin token is needed (Authorization: Bearer TOKEN)")
        try:
            cid = record_correction(correction.kind, correction.subject, correction.target, correction.who, correction.why)
        except CorrectionError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"id": cid, "applied": True}

    @app.get("/about/ai-score", response_class=HTMLResponse, include_in_schema=False)
    def about_ai_score(request: Request):
        return templates.TemplateResponse(request, "about_ai_score.html", {})

    @app.get("/score", response_class=HTMLResponse, include_in_schema=False)
    def score_form(request: Request):
        return templates.TemplateResponse(request, "score.html", {"title": "", "abstract": "", "result": None, "problem": None})

    @app.post("/score", response_class=HTMLResponse, include_in_schema=False)
    def score_submit(request: Request, title: str = Form("", max_length=1000), abstract: str = Form("", max_length=20000)):
        problem = None if abstract.strip() else "Paste an abstract: the score is made from the title and the abstract."
        result = None if problem else score_paper(title.strip(), abstract.strip())
        return templates.TemplateResponse(
            request, "score.html", {"title": title, "abstract": abstract, "result": result, "problem": problem},
            status_code=422 if problem else 200,
        )

    @app.post("/api/score", summary="The offline AI Score of a paper, with its reasons and nearest earlier works")
    def api_score(paper: PaperIn):
        return score_paper(paper.title, paper.abstract)

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
