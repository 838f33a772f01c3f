"""What a request may carry: the Bearer token, a bounded multipart body read into memory, and errors as 4xx codes.

Nothing from a request touches the disk: the body is read into memory up to the size limit (a larger one is refused
as soon as it passes the limit, before it is parsed) and the multipart parser's spooled files are kept in memory.
What an upload *is* is decided by its bytes (the image decoder identifies the format), never by its file name or
declared content type.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from dermkit.errors import ImageLoadError

FIELD = "file"
MAX_FILES = 32


class ApiError(Exception):
    """A request the server refuses: an HTTP status and one line saying why."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, extra: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # one line, whatever the cause said
        self.headers = headers
        self.extra = extra


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its form-field position, the name the client gave (only echoed back) and its bytes."""

    index: int
    filename: str | None
    data: bytes

    @property
    def label(self) -> str:
        """What error messages call it: ``file 1``, ``file 2``... (the client's file name is not trusted)."""
        return f"file {self.index + 1}"


def check_token(request: Request, token: str | None) -> None:
    """Require ``Authorization: Bearer <token>`` when the server has a token (constant-time comparison)."""
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "missing token: send the header 'Authorization: Bearer <token>'", challenge)
    if not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "wrong token", challenge)


async def _bounded(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise ApiError(413, f"upload too large: more than the limit of {limit / 2**20:g} MB")
        yield chunk


async def read_uploads(request: Request, limit: int) -> list[Upload]:
    """The files sent in the multipart form field ``file`` (repeatable), in order, read into memory.

    Args:
        request: the HTTP request.
        limit: the largest body accepted, in bytes.

    Raises:
        ApiError: 400 empty body, malformed form or no ``file`` field; 413 body over ``limit``; 415 not multipart.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise ApiError(413, f"upload too large: {int(declared)} bytes exceeds the limit of {limit / 2**20:g} MB")
        if int(declared) == 0:
            raise ApiError(400, f"empty request body: send images as multipart/form-data in the field '{FIELD}'")
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, f"send images as multipart/form-data in the field '{FIELD}' (got '{content_type}')")
    parser = MultiPartParser(request.headers, _bounded(request, limit), max_files=MAX_FILES, max_fields=MAX_FILES)
    parser.spool_max_size = limit + 1  # the body is at most ``limit``: uploads never spill to a temporary file
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, f"malformed multipart form: {exc.message}") from None
    try:
        files = [item for item in form.getlist(FIELD) if isinstance(item, UploadFile)]
        if not files and FIELD in form:
            raise ApiError(400, f"the form field '{FIELD}' holds text, not a file: send the image as a file upload")
        if not files:
            found = ", ".join(sorted(set(form.keys()))) or "nothing"
            raise ApiError(400, f"no '{FIELD}' field in the form (found: {found}); send each image as '{FIELD}'")
        return [Upload(i, item.filename, await item.read()) for i, item in enumerate(files)]
    finally:
        await form.close()


def image_error_status(error: ImageLoadError) -> int:
    """The HTTP status of an unreadable upload: 400 empty, 413 too many pixels, 415 not an image, 422 corrupt."""
    reason = error.reason
    if reason.startswith("empty"):
        return 400
    if reason.startswith("image too large"):
        return 413
    if reason.startswith("not an image"):
        return 415
    return 422  # an image whose data is truncated or corrupt, or of an unsupported mode
