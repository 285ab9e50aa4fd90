"""The dashboard's page and assets on the gateway's HTTP port, with the headers that keep
them from being framed, sniffed, or leaking the session in a Referer."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

log = logging.getLogger("saeta.gateway")

STATIC_DIR = resources.files("saeta.gateway") / "static"
# The dashboard's page: no inline script, no third-party origin, never framed, and the
# session in its URL never leaks through a Referer header.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# The dashboard's scripts and styles: never sniffed into another type, and a policy that
# lets nothing they are opened as (a document, if ever) run or load anything.
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
}


class _StaticFiles(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(STATIC_HEADERS)
        return response


async def dashboard(request: Request) -> Response:
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        log.error("code=DASHBOARD_NOT_BUILT no dashboard assets in %s", STATIC_DIR)
        return PlainTextResponse(
            "DASHBOARD_NOT_BUILT: this gateway was installed without the dashboard's assets "
            "(build them with `make setup`, or `npm ci && npm run build` in web/).",
            status_code=503,
        )
    return FileResponse(str(index), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def routes() -> list[Route | Mount]:
    """/ and /dashboard (the page), and /static/ once the assets are built."""
    found: list[Route | Mount] = [Route("/", dashboard), Route("/dashboard", dashboard)]
    if STATIC_DIR.is_dir():
        found.append(Mount("/static", _StaticFiles(directory=str(STATIC_DIR)), name="static"))
    return found
