"""Code availability: repository and project links found in an abstract or given by a source.

Abstracts write links in many shapes: a bare "https://github.com/x/y.", arXiv's "this https URL" escapes,
LaTeX "\\url{...}", or "github.com/x/y" without a scheme. We keep every link that points at code or a project
page and say which host it is.
"""

from __future__ import annotations

import re

# Hosts that hold code (or a paper's project page). Order matters: the first match names the host.
_HOSTS = (
    ("github", re.compile(r"(^|\.)github\.com$")),
    ("github-pages", re.compile(r"\.github\.io$")),
    ("gitlab", re.compile(r"(^|\.)gitlab\.(com|io)$")),
    ("huggingface", re.compile(r"(^|\.)(huggingface\.co|hf\.co)$")),
    ("bitbucket", re.compile(r"(^|\.)bitbucket\.org$")),
    ("codeberg", re.compile(r"(^|\.)codeberg\.org$")),
    ("sourceforge", re.compile(r"(^|\.)sourceforge\.net$")),
    ("gitee", re.compile(r"(^|\.)gitee\.com$")),
    ("paperswithcode", re.compile(r"(^|\.)paperswithcode\.com$")),
    ("zenodo", re.compile(r"(^|\.)zenodo\.org$")),
    ("osf", re.compile(r"(^|\.)osf\.io$")),
    ("project-page", re.compile(r"^sites\.google\.com$")),
)

# Hosts that a source's own location list may name without it being code: a landing page, or an archive that
# holds code only when the record is a software or dataset deposit.
NOT_CODE_BY_ITSELF = ("project-page", "zenodo", "osf")

# A URL with a scheme, a \url{...}, or a bare host we know ("github.com/owner/repo").
_URL = re.compile(
    r"\\url\{(?P<latex>[^}]+)\}"
    r"|(?P<full>https?://[^\s<>\"'{}|\\^`\]\)]+)"
    r"|(?<![\w./@-])(?P<bare>(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org|[\w-]+\.github\.io)/[^\s<>\"'{}|\\^`\]\)]*)",
    re.I,
)
_TRAILING = ".,;:!?)]}'\""

# Words that, in the sentence of a link to an unknown host, say the link is the paper's code or project page.
# ("available", "model" or "data" alone are not enough: "the review history is available at ...".)
_PROJECT_WORDS = re.compile(
    r"\b(code|codes|source code|implementation|project page|project website|website|homepage|repository|repo|"
    r"open[- ]source|demo|toolkit|toolbox|library|software)\b",
    re.I,
)


def host_of(url: str) -> str:
    m = re.match(r"(?:https?://)?([^/:?#]+)", url.strip(), re.I)
    return m.group(1).lower() if m else ""


def classify_host(url: str) -> str:
    """Name of the code host a URL points at, or "project-page" for another site."""
    host = host_of(url)
    for name, pattern in _HOSTS:
        if pattern.search(host):
            return name
    return "project-page"


def _clean(url: str) -> str:
    url = url.strip().rstrip(_TRAILING)
    # Balanced parentheses inside a URL are part of it; one unmatched closing one is prose.
    if not re.match(r"https?://", url, re.I):
        url = "https://" + url
    return url


def find_code_links(text: str | None) -> list[str]:
    """Links to code or project pages in a text, in order of appearance, without duplicates.

    Links to known code hosts always count; a link to another site counts when its sentence speaks of code,
    a project page, a website, a demo or software (so a dataset DOI, a review history or a citation does not).
    """
    if not text:
        return []
    found: list[str] = []
    for m in _URL.finditer(text):
        raw = m.group("latex") or m.group("full") or m.group("bare")
        url = _clean(raw)
        host = host_of(url)
        if not host or "." not in host:
            continue
        if classify_host(url) == "project-page":
            if host.endswith(("doi.org", "arxiv.org", "creativecommons.org")):
                continue
            # The sentence that holds the link (at most 200 characters back), not the text around it.
            start = max(text.rfind(". ", max(0, m.start() - 200), m.start()) + 1, m.start() - 200, 0)
            if not _PROJECT_WORDS.search(text[start: m.end()]):
                continue
        if url not in found:
            found.append(url)
    return found
