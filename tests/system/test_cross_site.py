"""A page from another site, open in the operator's own browser (a real Chromium), tries
the control plane's admin API on loopback the way the attack did: a no-cors `text/plain`
POST issuing a week-long session for another tenant, and a revocation. Neither takes
effect, and a DNS-rebinding shape (the right token, a foreign Host) is refused too."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.system.chromium import launch
from tests.system.harness import Deployment
from tests.system.other_site import serving

pytestmark = pytest.mark.system
playwright_sync = pytest.importorskip("playwright.sync_api")

ATTACK = """<!doctype html><meta charset="utf-8"><title>elsewhere</title><script>
window.result = 'pending';
const cp = 'http://127.0.0.1:%(port)d';
const simple = (path, body) => fetch(cp + path, {
  method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: body});
Promise.all([
  simple('/api/sessions', JSON.stringify({tenant: 'globex', user_id: 'attacker', ttl_seconds: 604800})),
  simple('/api/sessions/%(victim)s/revoke', '{}'),
]).then(() => { window.result = 'sent'; }, (e) => { window.result = 'error ' + e; });
</script>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _sessions(dep: Deployment) -> list[tuple[str, str, Any]]:
    with sqlite3.connect(dep.root / "cp.sqlite3") as db:
        return db.execute("SELECT edge_id, user_id, revoked_at FROM sessions").fetchall()


def test_a_page_from_another_site_cannot_use_the_admin_api(deployment: Deployment, browser: Any) -> None:
    cp = deployment.start_control_plane()
    victim = deployment.session("acme", user="victim")
    with serving(ATTACK % {"port": deployment.cp_port, "victim": victim}) as url:
        page = browser.new_page()
        try:
            page.goto(url)
            page.wait_for_function("() => window.result !== 'pending'")
            assert page.evaluate("window.result") == "sent"  # the requests went out
        finally:
            page.close()
    # No session for the attacker, and the victim's is not revoked.
    assert _sessions(deployment) == [("acme", "victim", None)]
    log = cp.text()
    assert log.count("admin call refused code=ORIGIN_REFUSED") == 2
    assert "session issued tenant=globex" not in log and "session revoked" not in log


def test_a_rebound_host_is_refused_even_with_the_token(deployment: Deployment) -> None:
    deployment.start_control_plane()
    body = json.dumps({"tenant": "globex", "user_id": "attacker"}).encode()
    headers = {**deployment.admin_headers(), "Content-Type": "application/json", "Host": "evil.example:8090"}
    request = urllib.request.Request(f"{deployment.cp_url}/api/sessions", data=body, headers=headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403 and json.loads(err.value.read())["code"] == "HOST_REFUSED"
    assert _sessions(deployment) == []
