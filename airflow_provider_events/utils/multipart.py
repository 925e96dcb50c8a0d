"""A ``multipart/form-data`` request body that streams its file part from disk.

Memory does not grow with the file: Act-On uploads of hundreds of megabytes go through it.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

_STREAM_CHUNK = 256 * 1024


class MultipartFileBody:
    """A ``multipart/form-data`` body that streams one file part from disk.

    The form fields and the part headers are built in memory (a few hundred bytes); the file is read in
    256 KiB chunks as the HTTP client asks for them, so memory does not grow with the file. The length is
    known in advance, so the request carries a ``Content-Length`` (no chunked encoding). Build a new one
    for each attempt (the core's ``body_factory``): a stream cannot be rewound by the HTTP client.

    :param fields: the form fields, sent before the file (values are sent as UTF-8 text).
    :param file_path: the file to stream.
    :param file_field: the file part's name (Act-On: ``file``).
    :param filename: the file name announced in the part header.
    :param content_type: the file part's content type.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file_path: str | os.PathLike[str],
        *,
        file_field: str = "file",
        filename: str | None = None,
        content_type: str = "text/csv",
    ) -> None:
        self.boundary = f"----airflow-provider-events-{uuid.uuid4().hex}"
        self.file_path = os.fspath(file_path)
        safe_name = _header_safe(filename or os.path.basename(self.file_path))
        preamble = io.BytesIO()
        for name, value in fields:
            preamble.write(f"--{self.boundary}\r\n".encode())
            preamble.write(f'Content-Disposition: form-data; name="{_header_safe(name)}"\r\n\r\n'.encode())
            preamble.write(str(value).encode("utf-8"))
            preamble.write(b"\r\n")
        preamble.write(f"--{self.boundary}\r\n".encode())
        disposition = f'form-data; name="{_header_safe(file_field)}"; filename="{safe_name}"'
        preamble.write(f"Content-Disposition: {disposition}\r\n".encode())
        preamble.write(f"Content-Type: {content_type}\r\n\r\n".encode())
        self._preamble = preamble.getvalue()
        self._epilogue = f"\r\n--{self.boundary}--\r\n".encode()
        self._file_size = os.path.getsize(self.file_path)
        self._length = len(self._preamble) + self._file_size + len(self._epilogue)
        self._stage = 0  # 0 preamble, 1 file, 2 epilogue, 3 done
        self._buffer = b""
        self._file: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def headers(self) -> dict[str, str]:
        """The request headers this body needs."""
        return {"Content-Type": self.content_type, "Content-Length": str(self._length)}

    def __len__(self) -> int:
        return self._length

    def _next_chunk(self) -> bytes:
        while self._stage < 3:
            if self._stage == 0:
                self._stage = 1
                return self._preamble
            if self._stage == 1:
                if self._file is None:
                    self._file = open(self.file_path, "rb")  # noqa: SIM115 - closed at end of file
                chunk: bytes = self._file.read(_STREAM_CHUNK)
                if chunk:
                    return chunk
                self._file.close()
                self._stage = 2
                continue
            self._stage = 3
            return self._epilogue
        return b""

    def read(self, size: int = -1) -> bytes:
        """File-like read used by the HTTP client (``size`` < 0 reads everything left: avoid it)."""
        if size is None or size < 0:
            return self._buffer + b"".join(iter(self._next_chunk, b""))
        while len(self._buffer) < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from iter(self._next_chunk, b"")

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._stage = 3


def _header_safe(value: str) -> str:
    return value.replace("\\", "_").replace('"', "_").replace("\r", " ").replace("\n", " ")
