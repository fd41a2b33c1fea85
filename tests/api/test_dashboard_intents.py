"""The consumer dashboard: signals and recordings shown, pause, delete and declare by CSRF-protected forms."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from .test_gestures import post, tv


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def test_dashboard_shows_and_edits_recordings(client: TestClient, consumer: dict[str, Any]) -> None:
    cart = tv("cart_add")
    cart["product"] = {"name": "Marker <b>TV</b> 65 inch", "brand": "X", "price": 5.0, "currency": "EUR"}
    post(client, {"X-CSRF-Token": consumer["csrf"]}, [tv(), cart])
    page = client.get("/dashboard").text
    assert "Marker &lt;b&gt;TV&lt;/b&gt;" in page  # escaped, never rendered as markup
    assert "electronics.tv" in page and "Your intent signals" in page
    token = _csrf(page)
    r = client.post(f"/dashboard/gestures/{cart['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 200 and "Delete this recorded gesture?" in r.text  # asks first
    assert "Marker" in client.get("/dashboard").text
    r = client.post(
        f"/dashboard/gestures/{cart['id']}/delete",
        data={"csrf_token": token, "confirmed": "yes", "back": "/dashboard"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Marker" not in client.get("/dashboard").text
    assert client.post(f"/dashboard/gestures/{cart['id']}/delete", data={}).status_code == 403

    r = client.post("/dashboard/recording", data={"csrf_token": token, "paused": "1"}, follow_redirects=False)
    assert r.status_code == 303 and client.get("/v1/me/settings").json()["paused"] is True
    assert "Resume recording" in client.get("/dashboard").text

    r = client.post(
        "/dashboard/intents",
        data={
            "csrf_token": token,
            "category": "furniture.sofa",
            "text": "grey sofa",
            "budget_max": "800",
            "currency": "eur",
            "timeframe_days": "30",
        },
    )
    assert r.status_code == 200 and "grey sofa" in r.text
    bad = client.post("/dashboard/intents", data={"csrf_token": token, "category": "nope"})
    assert bad.status_code == 422 and "Choose a category from the list." in bad.text
