"""The real server: ``dermkit serve`` under uvicorn on a loopback port, hit by concurrent good and bad requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration._serve_helpers import image_bytes, make_model_dir, png_claiming, rss_bytes, running_server

pytestmark = pytest.mark.slow

TOKEN = "process-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUNDS = 5
CLIENTS = 6
MB = 2**20

JPEG, PNG = image_bytes(seed=1), image_bytes("PNG", (120, 90), seed=2)
#: name, method, path, form files (field, name, bytes), headers, the status it must get
MIX = [
    ("predict", "POST", "/predict", [("file", "a.jpg", JPEG)], AUTH, 200),
    ("predict two, one bad", "POST", "/predict", [("file", "a.png", PNG), ("file", "b.jpg", b"junk")], AUTH, 200),
    ("non-image", "POST", "/predict", [("file", "a.jpg", b"GIF? no, text")], AUTH, 415),
    ("truncated", "POST", "/predict", [("file", "a.jpg", JPEG[:500])], AUTH, 422),
    ("pixel bomb", "POST", "/predict", [("file", "a.png", png_claiming(30000, 30000))], AUTH, 413),
    ("wrong field", "POST", "/predict", [("photo", "a.jpg", JPEG)], AUTH, 400),
    ("empty body", "POST", "/predict", [], AUTH, 400),
    ("no token", "POST", "/predict", [("file", "a.jpg", JPEG)], {}, 401),
    ("explain", "POST", "/explain", [("file", "a.png", PNG)], AUTH, 200),
    ("health", "GET", "/health", [], {}, 200),
    ("model", "GET", "/model", [], AUTH, 200),
]


def _send(client: httpx.Client, case: tuple) -> tuple[str, int, int, httpx.Response]:
    name, method, path, files, headers, expected = case
    form = [(field, (filename, data, "application/octet-stream")) for field, filename, data in files] or None
    response = client.request(method, path, files=form, headers=headers)
    return name, expected, response.status_code, response


def test_concurrent_mixed_requests_are_all_answered_and_memory_does_not_grow(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path / "model")
    served = running_server(model, tmp_path / "server.log", "--max-concurrency", "2", env={"DERMKIT_TOKEN": TOKEN})
    with (
        served as (url, process),  # the token comes from the environment, as `DERMKIT_TOKEN=... dermkit serve`
        httpx.Client(base_url=url, timeout=120) as client,
        ThreadPoolExecutor(CLIENTS) as pool,
    ):
        memory = []
        for _ in range(ROUNDS):
            for name, expected, status, response in pool.map(lambda case: _send(client, case), MIX * 3):
                assert status == expected, f"{name}: {status} {response.text[:200]}"
                if status >= 400:
                    message = response.json()["error"]
                    assert message and "\n" not in message and "Traceback" not in message, name
                elif name.startswith("predict"):
                    results = response.json()["results"]
                    assert "label" in results[0] and ("error" in results[1] if len(results) > 1 else True)
                elif name == "explain":
                    assert response.headers["content-type"] == "image/png" and response.content[:4] == b"\x89PNG"
            memory.append(rss_bytes(process.pid))
        assert client.get("/health").json()["status"] == "ok"
    growth = memory[-1] - memory[1]  # the first round warms caches and thread pools up
    assert growth < 40 * MB, f"resident memory per round (MB): {[round(m / MB) for m in memory]}"
    assert "Traceback" not in (tmp_path / "server.log").read_text()
