"""The REST API through FastAPI's TestClient: every route, every bad input of the issue, and the next request after."""

from __future__ import annotations

import base64
import io
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dermkit.data.decode import load_image
from dermkit.inference.predictor import Prediction, Predictor
from dermkit.models.artifact import read_spec
from dermkit.serve import create_app
from tests.integration._serve_helpers import CLASSES, image_bytes, make_model_dir, png_claiming

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEXT_FIELD = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nlesion.jpg\r\n--b--\r\n'
MULTIPART_B = {**AUTH, "content-type": "multipart/form-data; boundary=b"}
CARD = "# Model card\n\nA test model; not for clinical use.\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("serve") / "melanoma_v3", card=CARD)


@pytest.fixture(scope="module")
def predictor(model_dir: Path) -> Predictor:
    return Predictor.from_checkpoint(model_dir)


@pytest.fixture(scope="module")
def client(predictor: Predictor, model_dir: Path) -> TestClient:
    app = create_app(predictor, token=TOKEN, max_upload_mb=0.25, model_dir=model_dir)
    with TestClient(app) as test_client:
        yield test_client


def _files(*items: tuple[str, bytes], field: str = "file") -> list:
    return [(field, (name, data, "application/octet-stream")) for name, data in items]


def _assert_one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _assert_serves_next_request(client: TestClient) -> None:
    response = client.post("/predict", files=_files(("ok.jpg", image_bytes())), headers=AUTH)
    assert response.status_code == 200 and response.json()["results"][0]["label"] in CLASSES


def test_health_answers_without_token_and_says_what_the_server_offers(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body == {
        "status": "ok",
        "model": "melanoma_v3",
        "version": body["version"],
        "explain": True,
        "token_required": True,
    }


def test_predict_answers_prediction_threshold_source_flag_and_model(
    client: TestClient, predictor: Predictor, model_dir: Path
) -> None:
    data = image_bytes(seed=3)
    response = client.post("/predict", files=_files(("lesion.jpg", data)), headers=AUTH)
    assert response.status_code == 200
    (entry,) = response.json()["results"]
    expected = predictor.predict(data)
    assert entry["label"] == expected.label and entry["index"] == expected.index
    assert entry["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    assert entry["threshold"] == 0.3 and entry["threshold_source"] == "recall>=0.99 on val"
    assert entry["positive_class"] == "malignant"
    assert entry["flagged"] is (entry["probabilities"]["malignant"] >= 0.3)
    assert entry["filename"] == "lesion.jpg"
    assert entry["model"]["name"] == "melanoma_v3" and entry["model"]["version"] == read_spec(model_dir).created


def test_predict_several_images_gives_each_bad_one_its_own_error(client: TestClient) -> None:
    jpeg, png = image_bytes(seed=1), image_bytes("PNG", seed=2)
    files = _files(("a.jpg", jpeg), ("notes.jpg", b"not an image at all"), ("b.png", png), ("cut.jpg", jpeg[:300]))
    response = client.post("/predict", files=files, headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [entry["file"] for entry in results] == [1, 2, 3, 4]
    assert results[0]["label"] in CLASSES and results[2]["label"] in CLASSES
    assert results[1]["status"] == 415 and results[1]["error"].startswith("file 2: not an image")
    assert results[3]["status"] == 422 and results[3]["error"].startswith("file 4: truncated or corrupt")


@pytest.mark.parametrize(
    ("request_kwargs", "status", "phrase"),
    [
        ({"headers": AUTH}, 400, "empty request body"),
        ({"files": _files(("x.jpg", b"")), "headers": AUTH}, 400, "empty data"),
        ({"files": _files(("photo.jpg", b"<html>hello</html>" * 10)), "headers": AUTH}, 415, "not an image"),
        ({"files": _files(("cut.jpg", image_bytes()[:400])), "headers": AUTH}, 422, "truncated"),
        ({"files": _files(("huge.png", png_claiming(30000, 30000))), "headers": AUTH}, 413, "image too large"),
        ({"files": _files(("a.jpg", image_bytes()), field="image"), "headers": AUTH}, 400, "no 'file' field"),
        ({"content": TEXT_FIELD, "headers": MULTIPART_B}, 400, "holds text"),
        ({"files": _files(("big.png", image_bytes("PNG", (400, 400)))), "headers": AUTH}, 413, "upload too large"),
        ({"content": image_bytes(), "headers": {**AUTH, "content-type": "image/jpeg"}}, 415, "multipart/form-data"),
        ({"files": _files(("a.jpg", image_bytes()))}, 401, "missing token"),
        ({"files": _files(("a.jpg", image_bytes())), "headers": {"Authorization": "Bearer nope"}}, 401, "wrong token"),
        ({"files": _files(("a.jpg", image_bytes())), "headers": {"Authorization": TOKEN}}, 401, "missing token"),
    ],
    ids=[
        "empty-body",
        "empty-file",
        "non-image",
        "truncated-jpeg",
        "30000x30000-png",
        "wrong-field",
        "text-field",
        "oversized-upload",
        "not-multipart",
        "missing-token",
        "wrong-token",
        "no-bearer-scheme",
    ],
)
def test_bad_predict_request_gets_its_4xx_and_the_next_request_is_served(
    client: TestClient, request_kwargs: dict, status: int, phrase: str
) -> None:
    message = _assert_one_line_error(client.post("/predict", **request_kwargs), status)
    assert phrase in message
    _assert_serves_next_request(client)


def test_oversized_upload_is_refused_from_its_declared_length(client: TestClient) -> None:
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=x", "content-length": str(10 * 2**20)}
    message = _assert_one_line_error(client.post("/predict", content=b"--x--\r\n", headers=headers), 413)
    assert "limit of 0.25 MB" in message


def test_oversized_chunked_upload_is_cut_off_at_the_limit(client: TestClient) -> None:
    def body():  # no Content-Length: the limit is enforced while the body streams in
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        for _ in range(64):
            yield b"\0" * 8192

    headers = {**AUTH, "content-type": "multipart/form-data; boundary=x"}
    assert "upload too large" in _assert_one_line_error(client.post("/predict", content=body(), headers=headers), 413)
    _assert_serves_next_request(client)


def test_several_images_all_unreadable_get_the_first_ones_status_and_every_entry(client: TestClient) -> None:
    files = _files(("a.jpg", b"plain text"), ("b.jpg", image_bytes()[:300]))
    response = client.post("/predict", files=files, headers=AUTH)
    assert _assert_one_line_error(response, 415).startswith("file 1: not an image")
    assert [entry["status"] for entry in response.json()["results"]] == [415, 422]


def test_unauthorised_request_is_told_the_scheme(client: TestClient) -> None:
    response = client.get("/model")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_explain_returns_overlay_png_in_the_original_geometry(client: TestClient) -> None:
    response = client.post("/explain", files=_files(("a.jpg", image_bytes(size=(90, 50)))), headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (90, 50)


def test_explain_json_carries_both_pngs_and_honours_class_and_method(client: TestClient) -> None:
    files = _files(("a.png", image_bytes("PNG", size=(64, 80))))
    response = client.post("/explain?format=json&class=benign&method=gradcam%2B%2B", files=files, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["class"], body["method"], body["layer"]) == ("benign", "gradcam++", "layer4")
    assert (body["width"], body["height"]) == (64, 80)
    assert body["prediction"]["label"] in CLASSES
    heat = load_image(base64.b64decode(body["heatmap_png"]))
    assert heat.shape == (80, 64, 3) and heat.max() == 255  # the map is scaled to [0, 1]
    assert Image.open(io.BytesIO(base64.b64decode(body["overlay_png"]))).size == (64, 80)


@pytest.mark.parametrize(
    ("query", "files", "status", "phrase"),
    [
        ("", _files(("a.txt", b"plain text, not an image")), 415, "not an image"),
        ("", _files(("a.jpg", image_bytes()), ("b.jpg", image_bytes())), 400, "one image per request"),
        ("?class=melanoma", _files(("a.jpg", image_bytes())), 400, "unknown class 'melanoma'"),
        ("?format=gif", _files(("a.jpg", image_bytes())), 422, "format"),
        ("", _files(("huge.png", png_claiming(30000, 30000))), 413, "image too large"),
    ],
    ids=["non-image", "two-images", "unknown-class", "unknown-format", "30000x30000-png"],
)
def test_bad_explain_request_gets_its_4xx_and_the_next_request_is_served(
    client: TestClient, query: str, files: list, status: int, phrase: str
) -> None:
    assert phrase in _assert_one_line_error(client.post(f"/explain{query}", files=files, headers=AUTH), status)
    _assert_serves_next_request(client)


def test_model_route_gives_classes_metrics_operating_point_and_card(client: TestClient) -> None:
    body = client.get("/model", headers=AUTH).json()
    assert body["classes"] == CLASSES and body["task"] == "classify"
    assert body["metrics"]["val"] == {"accuracy": 0.9, "roc_auc": None}  # NaN becomes null
    assert body["operating_point"]["threshold"] == 0.3 and body["operating_point"]["positive_class"] == "malignant"
    assert body["model_card"] == CARD and body["explain"] is True


def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    assert "no such route" in _assert_one_line_error(client.get("/predictions"), 404)
    assert "not allowed" in _assert_one_line_error(client.get("/predict"), 405)


def test_page_and_docs_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and 'id="cam-toggle"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/docs").status_code == 200
    assert {"/predict", "/explain", "/health", "/model"} <= set(client.get("/openapi.json").json()["paths"])


def test_uploads_are_kept_in_memory_never_spooled_to_disk(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: tempfile.SpooledTemporaryFile) -> None:
        raise AssertionError("an upload was rolled over to a temporary file on disk")

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", refuse)
    data = image_bytes("PNG", size=(1200, 1000))  # ~3.6 MB, over Starlette's 1 MB default spool size
    assert len(data) > 2**21
    with TestClient(create_app(predictor)) as client:
        response = client.post("/predict", files=_files(("big.png", data)))
    assert response.status_code == 200, response.text


class _TorchlessPredictor:
    """Answers like a predictor without a PyTorch network (an ONNX one): ``spec``, ``predict``, ``predict_batch``."""

    def __init__(self, spec: object, delay: float = 0.0) -> None:
        self.spec = spec
        self.delay = delay

    def predict_batch(self, images: list[bytes]) -> list[Prediction]:
        time.sleep(self.delay)
        for image in images:
            load_image(image)
        return [Prediction("malignant", 1, {"benign": 0.25, "malignant": 0.75}) for _ in images]

    def predict(self, image: bytes) -> Prediction:
        return self.predict_batch([image])[0]


def test_predictor_without_torch_model_predicts_and_explain_says_it_needs_the_pytorch_folder(model_dir: Path) -> None:
    with TestClient(create_app(_TorchlessPredictor(read_spec(model_dir)))) as client:
        (entry,) = client.post("/predict", files=_files(("a.jpg", image_bytes()))).json()["results"]
        assert entry["label"] == "malignant" and entry["flagged"] is True
        message = _assert_one_line_error(client.post("/explain", files=_files(("a.jpg", image_bytes()))), 501)
        assert "needs the PyTorch model folder" in message
        assert client.get("/health").json()["explain"] is False


def test_health_stays_responsive_while_slow_predictions_run(model_dir: Path) -> None:
    app = create_app(_TorchlessPredictor(read_spec(model_dir), delay=1.5), max_concurrency=1)
    with TestClient(app) as client:
        statuses: list[int] = []

        def slow() -> None:
            statuses.append(client.post("/predict", files=_files(("a.jpg", image_bytes()))).status_code)

        threads = [threading.Thread(target=slow) for _ in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(0.3)  # both requests are in: one computing, one waiting for the slot
        health_started = time.monotonic()
        assert client.get("/health").status_code == 200
        assert time.monotonic() - health_started < 0.5
        for thread in threads:
            thread.join()
        assert statuses == [200, 200]
        assert time.monotonic() - started >= 3.0  # max_concurrency=1: the two 1.5 s predictions ran one after another


def test_create_app_rejects_unusable_limits(predictor: Predictor) -> None:
    with pytest.raises(ValueError, match="max_upload_mb"):
        create_app(predictor, max_upload_mb=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        create_app(predictor, max_concurrency=0)


def test_overlay_differs_from_the_plain_image(client: TestClient) -> None:
    data = image_bytes("PNG", size=(48, 48), seed=9)
    response = client.post("/explain", files=_files(("a.png", data)), headers=AUTH)
    overlay = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    assert np.abs(overlay - load_image(data).astype(int)).mean() > 10
