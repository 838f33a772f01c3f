"""``create_app(predictor)``: a FastAPI app that predicts and explains uploaded images, plus one web page.

Routes: ``POST /predict`` (multipart field ``file``, repeatable), ``POST /explain`` (one image; PNG, or JSON with
``?format=json``), ``GET /health``, ``GET /model``, ``GET /`` (the page) and the OpenAPI docs at ``/docs``.

Safe by default: with a token every model route needs ``Authorization: Bearer <token>`` (``/``, ``/health`` and the
docs stay open: they tell nothing about a patient); uploads are bounded and kept in memory; every error is JSON
``{"error": "<one line>"}``, never a stack trace; inference runs in worker threads, at most ``max_concurrency`` at
a time, so the event loop (and ``/health``) stays responsive while a slow request is computed. Building the app
imports no torch, so a predictor without PyTorch (ONNX) serves ``/predict``; ``/explain`` then answers 501.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from dermkit import __version__
from dermkit.errors import DermkitError, ImageLoadError
from dermkit.serve.answers import model_description, model_summary, predict_uploads
from dermkit.serve.uploads import FIELD, ApiError, check_token, image_error_status, read_uploads

log = logging.getLogger("dermkit")

NO_EXPLAINER = "explain needs the PyTorch model folder (model.json + model.safetensors); this predictor has no network"
OVERLAY_MAX_SIDE = 1024  # the page shows the overlay; a 12-MP PNG in JSON would only slow it down
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}}},
                }
            }
        },
    }
}


def _make_explainer(predictor: Any, layer: str | None) -> tuple[Any, str | None]:
    """A Grad-CAM explainer when the predictor has a PyTorch network, else None and the reason."""
    if not hasattr(getattr(predictor, "model", None), "backbone"):
        return None, NO_EXPLAINER
    from dermkit.inference.explain import Explainer  # torch is loaded already: the predictor holds a torch model

    try:
        return Explainer(predictor, layer=layer), None
    except DermkitError as exc:
        return None, str(exc)


def _error(status: int, message: str, headers: dict[str, str] | None = None, extra: dict | None = None) -> Response:
    return JSONResponse({"error": message, **(extra or {})}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``{"error": "<one line>"}`` with its status; unexpected ones are logged, not shown."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.message, exc.headers, exc.extra)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        messages = {
            404: f"no such route: {request.url.path} (see /docs)",
            405: f"method {request.method} not allowed on {request.url.path}",
        }
        return _error(exc.status_code, messages.get(exc.status_code, str(exc.detail)), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return _error(422, f"invalid {where}: {first.get('msg', 'bad value')}")

    @app.exception_handler(DermkitError)
    async def _user_error(request: Request, exc: DermkitError) -> Response:
        return _error(400, " ".join(str(exc).split()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal server error (logged on the server)")


def _limits(max_upload_mb: float, max_concurrency: int) -> int:
    if not max_upload_mb > 0:
        raise ValueError(f"max_upload_mb must be positive, got {max_upload_mb}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    return int(max_upload_mb * 2**20)


@dataclass
class _Service:
    """What the routes share: the predictor, the explainer (or why there is none), limits and the page."""

    predictor: Any
    explainer: Any
    unavailable: str | None
    model: dict[str, Any]
    model_dir: Path | None
    token: str | None
    limit: int
    limiter: anyio.CapacityLimiter
    page: str

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` in a worker thread, at most ``max_concurrency`` at once; the event loop stays free."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)


def _service(request: Request) -> _Service:
    return request.app.state.dermkit


async def _authorised(request: Request) -> None:
    check_token(request, _service(request).token)


router = APIRouter()
_GUARDED = [Depends(_authorised)]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(_service(request).page, headers=_PAGE_HEADERS)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness: answers at once even while images are being predicted."""
    service = _service(request)
    return {
        "status": "ok",
        "model": service.model["name"],
        "version": service.model["version"],
        "explain": service.explainer is not None,
        "token_required": service.token is not None,
    }


@router.get("/model", dependencies=_GUARDED)
async def describe(request: Request) -> dict[str, Any]:
    """Classes, validation metrics, the operating point and the model card."""
    service = _service(request)
    return model_description(service.predictor, service.model_dir, service.unavailable)


@router.post("/predict", dependencies=_GUARDED, openapi_extra=_UPLOAD_DOC)
async def predict(request: Request) -> dict[str, Any]:
    """Predict one or more images (repeat the form field ``file``); one entry per image, in order."""
    service = _service(request)
    uploads = await read_uploads(request, service.limit)
    return {"results": await service.run(predict_uploads, service.predictor, uploads, service.model)}


@router.post("/explain", dependencies=_GUARDED, openapi_extra=_UPLOAD_DOC, response_model=None)
async def explain(
    request: Request,
    format: Literal["png", "json"] = "png",
    class_name: str | None = Query(None, alias="class", description="The class to explain (default: predicted)."),
    method: Literal["gradcam", "gradcam++"] = "gradcam",
) -> Response | dict[str, Any]:
    """The Grad-CAM overlay of one image: a PNG, or JSON with the PNGs in base64 (``?format=json``)."""
    service = _service(request)
    if service.explainer is None:
        raise ApiError(501, service.unavailable or NO_EXPLAINER)
    service.explainer.class_index(class_name)
    uploads = await read_uploads(request, service.limit)
    if len(uploads) != 1:
        raise ApiError(400, f"explain takes one image per request, got {len(uploads)}")
    result = await service.run(_explain_one, service.explainer, uploads[0], class_name, method)
    if format == "png":
        return Response(result["overlay_png"], media_type="image/png")
    encoded = {key: base64.b64encode(result[key]).decode("ascii") for key in ("overlay_png", "heatmap_png")}
    return {**result, **encoded}


def create_app(
    predictor: Any,
    *,
    token: str | None = None,
    max_upload_mb: float = 20,
    max_concurrency: int = 2,
    model_dir: str | Path | None = None,
    layer: str | None = None,
) -> FastAPI:
    """Build the REST API and web page over one predictor.

    Args:
        predictor: a :class:`~dermkit.inference.predictor.Predictor` or any object with its ``spec``, ``predict`` and
            ``predict_batch`` (``/explain`` also needs a PyTorch ``model``, else it answers 501).
        token: require ``Authorization: Bearer <token>`` on ``/predict``, ``/explain`` and ``/model``.
        max_upload_mb: the largest request body accepted.
        max_concurrency: images predicted or explained at the same time (more requests wait their turn).
        model_dir: the model folder, for its name and ``MODEL_CARD.md``.
        layer: the Grad-CAM target layer (default: the backbone's last convolutional stage).

    Returns:
        The FastAPI app (run it with uvicorn, or mount it in your own service).
    """
    limit = _limits(max_upload_mb, max_concurrency)
    model_dir = Path(model_dir) if model_dir is not None else None
    explainer, unavailable = _make_explainer(predictor, layer)
    app = FastAPI(title="dermkit", version=__version__, description="Predict and explain skin-lesion images.")
    app.state.dermkit = _Service(
        predictor=predictor,
        explainer=explainer,
        unavailable=unavailable,
        model=model_summary(predictor.spec, model_dir),
        model_dir=model_dir,
        token=token or None,
        limit=limit,
        limiter=anyio.CapacityLimiter(max_concurrency),
        page=resources.files("dermkit.serve").joinpath("static/index.html").read_text(encoding="utf-8"),
    )
    _install_error_handlers(app)
    app.include_router(router)
    return app


def _explain_one(explainer: Any, upload: Any, class_name: str | None, method: str) -> dict[str, Any]:
    """Explain an upload in a worker thread: the overlay and the grey map as PNG bytes, and what they show."""
    import numpy as np

    from dermkit.inference.explain import encode_png

    try:
        result = explainer.explain(
            upload.data, class_name=class_name, method=method, max_side=OVERLAY_MAX_SIDE, name=upload.label
        )
    except ImageLoadError as exc:
        raise ApiError(image_error_status(exc), str(exc)) from None
    grey = np.repeat((result.heatmap * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    return {
        "file": upload.index + 1,
        "filename": upload.filename,
        "class": result.class_name,
        "method": result.method,
        "layer": result.layer,
        "prediction": result.prediction.to_dict(),
        "width": int(result.overlay.shape[1]),
        "height": int(result.overlay.shape[0]),
        "overlay_png": encode_png(result.overlay),
        "heatmap_png": encode_png(grey),
    }
