"""LocalServer routes that replay real recorded API answers: OpenAlex (tests/data/openalex_cassettes) and
arXiv (tests/data/arxiv_responses), each folder with its SOURCE.md. A request gets a recording only when it
asks what the recording asked; anything else is a 404 from the test server.

The one liberty, said in SOURCE.md too: the author's works were recorded as one page of 9; a cursor-paged
request for ``per-page=N`` gets those same 9 works, in the recorded order, cut into pages of N, with
``meta.next_cursor`` tokens of ours. Everything else in the answers is as recorded.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from urllib.parse import unquote

from local_server import Answer, Seen

DATA = Path(__file__).resolve().parent / "data" / "openalex_cassettes"
ARXIV_DATA = Path(__file__).resolve().parent / "data" / "arxiv_responses"
ARXIV_RECORDED = {  # (search_query, id_list) as recorded -> file
    ("all:electron AND all:proton", None): "search_electron_and_proton.xml",
    (None, "2206.06921"): "id_list_2206.06921.xml",
    (None, "2201.13455,2201.13452,2201.13453,2201.13454"): "id_list_missing_ids.xml",
    (None, "1201.56789"): "id_list_unknown_id.xml",
}
AUTHOR = "A5017898742"  # Joseph Mearman: 9 works, h-index 2
WORKS_FILE = DATA / "works" / "queries" / "filter__3D__authorships.author.id__3A__A5017898742__26__per_page__3D__50.json"
SEARCH_FILE = DATA / "authors" / "queries" / "per_page__3D__20__26__search__3D__mearman.json"


def load(relative: str) -> dict:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def recorded_works() -> list[dict]:
    return json.loads(WORKS_FILE.read_text(encoding="utf-8"))["results"]


class OpenAlexReplay:
    """Callable route. ``delay`` holds every answer open that long (to kill a client mid-request);
    ``missing`` lists paths to answer 404 (a work OpenAlex does not have); ``script`` maps a path to a list
    of Answers given first, in order, before the recording (429s, 500s)."""

    def __init__(self, delay: float = 0.0, missing: tuple[str, ...] = (), script: dict[str, list[Answer]] | None = None):
        self.delay = delay
        self.missing = set(missing)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self._lock = threading.Lock()
        self.entities = {
            f"/authors/{AUTHOR}": "authors/A5017898742.json",
            "/authors/A5023888391": "authors/A5023888391.json",
            # OpenAlex answers /authors/orcid:X with the same author object as /authors/A...: this mapping is ours.
            "/authors/orcid:0000-0001-6187-6610": "authors/A5023888391.json",
            "/works/W2741809807": "works/W2741809807.json",
            "/works/doi:10.7717/peerj.4375": "works/W2741809807.json",  # same: the work by its DOI
            "/institutions/I161548249": "institutions/I161548249.json",
        }

    def _answer(self, status: int, body) -> Answer:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            return Answer(status, body, {"Content-Type": "application/json"}, delay=self.delay)
        return Answer(status, body, delay=self.delay)

    def __call__(self, seen: Seen) -> Answer:
        path = unquote(seen.path)
        with self._lock:
            scripted = self.script.get(path)
            if scripted:
                answer = scripted.pop(0)
                return answer
        if path in self.missing:
            return self._answer(404, {"error": "not in the recordings", "path": path})
        q = seen.query
        per_page = q.get("per-page") or q.get("per_page")
        if path in self.entities:
            return self._answer(200, (DATA / self.entities[path]).read_bytes())
        if path == "/authors" and q.get("search", "").lower() == "mearman" and per_page == "20":
            return self._answer(200, SEARCH_FILE.read_bytes())
        if path == "/works" and q.get("filter") == f"authorships.author.id:{AUTHOR}" and per_page and "cursor" in q:
            return self._answer(200, self.works_page(int(per_page), q["cursor"]))
        return self._answer(404, {"error": "not in the recordings", "path": path, "query": q})

    @staticmethod
    def works_page(per_page: int, cursor: str) -> dict:
        """Page ``cursor`` ("*" is the first) of the recorded works, cut into pages of ``per_page``."""
        recorded = json.loads(WORKS_FILE.read_text(encoding="utf-8"))
        results = recorded["results"]
        index = 0 if cursor == "*" else int(cursor.removeprefix("replay-page-")) - 1
        chunk = results[index * per_page: (index + 1) * per_page]
        more = (index + 1) * per_page < len(results)
        page = copy.deepcopy(recorded)
        page["results"] = chunk
        page["meta"].update({"per_page": per_page, "page": None, "next_cursor": f"replay-page-{index + 2}" if more else None})
        return page


class Switch:
    """A route that passes each request to whichever route a test sets, so one LocalServer (whose shutdown
    takes half a second) serves a whole test module."""

    def __init__(self):
        self.route = lambda seen: Answer(404, "no route set")

    def __call__(self, seen: Seen) -> Answer:
        return self.route(seen)


def serving(server, switch: Switch, route):
    """Point the shared server at ``route`` and forget what it saw before."""
    switch.route = route
    with server._lock:
        server.seen.clear()
    return server


def arxiv_replay(seen: Seen) -> Answer:
    """The recorded arXiv answer for the same search or id list, at the start (0) it was recorded with."""
    q = seen.query
    if q.get("id_list") == "maintenance":  # scripted, not recorded: a proxy's HTML page instead of Atom
        return Answer(200, "<html>maintenance</html>")
    name = ARXIV_RECORDED.get((q.get("search_query"), q.get("id_list")))
    if seen.path != "/api/query" or name is None or q.get("start", "0") != "0":
        return Answer(404, "not in the recordings")
    return Answer(200, (ARXIV_DATA / name).read_bytes(), {"Content-Type": "application/atom+xml; charset=utf-8"})
