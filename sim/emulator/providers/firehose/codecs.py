"""The compression Firehose applies to an S3 object, byte for byte as AWS writes it.

| CompressionFormat | key extension | Content-Encoding | container                           |
|-------------------|---------------|------------------|-------------------------------------|
| UNCOMPRESSED      | (none)        | (none)           | the records as they were put        |
| GZIP              | .gz           | gzip             | a gzip stream                       |
| ZIP               | .zip          | zip              | a zip archive, one deflated entry   |
| Snappy            | .snappy       | snappy-java      | xerial snappy-java's stream format  |
| HADOOP_SNAPPY     | .snappy       | hadoop-snappy    | Hadoop's block framing              |

AWS's ``Snappy`` is not the official Snappy framing format but snappy-java's
``SnappyOutputStream`` (magic ``\\x82SNAPPY\\x00``, two version ints, then length-prefixed raw
blocks); ``HADOOP_SNAPPY`` is what Hadoop's and Spark's SnappyCodec read. Floci's issue #2328
compared objects AWS delivered against both, byte for byte. The block compression is cramjam's
(raw Snappy); the Hadoop framing is python-snappy's (a kept library); the snappy-java container,
which no Python library writes, is the few lines below.
"""

from __future__ import annotations

import gzip
import io
import struct
import uuid
import zipfile

import cramjam
import snappy

FORMATS = ("UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY")
_EXT = {
    "UNCOMPRESSED": "",
    "GZIP": ".gz",
    "ZIP": ".zip",
    "Snappy": ".snappy",
    "HADOOP_SNAPPY": ".snappy",
}
_ENCODING = {
    "GZIP": "gzip",
    "ZIP": "zip",
    "Snappy": "snappy-java",
    "HADOOP_SNAPPY": "hadoop-snappy",
}
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_BLOCK = 32 * 1024  # snappy-java's SnappyOutputStream default block size
_INT = struct.Struct(">i")


def extension(fmt: str) -> str:
    """The key extension Firehose appends for ``fmt``."""
    return _EXT[fmt]


def content_encoding(fmt: str) -> str | None:
    """The Content-Encoding Firehose sets on the object, None when uncompressed."""
    return _ENCODING.get(fmt)


def compress(fmt: str, data: bytes) -> bytes:
    """``data`` (the concatenated records) in ``fmt``'s container."""
    if fmt == "UNCOMPRESSED":
        return data
    if fmt == "GZIP":
        return gzip.compress(data, mtime=0)
    if fmt == "ZIP":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(str(uuid.uuid4()), data)
        return buf.getvalue()
    if fmt == "Snappy":
        out = bytearray(_XERIAL_MAGIC + _INT.pack(1) + _INT.pack(1))
        for i in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[i : i + _XERIAL_BLOCK]))
            out += _INT.pack(len(block)) + block
        return bytes(out)
    if fmt == "HADOOP_SNAPPY":
        # one Hadoop block per 32 KiB, as snappy-java's SnappyHadoopCompatibleOutputStream
        # (AWS's writer) cuts them; every Hadoop decompressor buffer holds a block that size
        hadoop = snappy.HadoopStreamCompressor()
        return b"".join(
            bytes(hadoop.add_chunk(data[i : i + _XERIAL_BLOCK]))
            for i in range(0, len(data), _XERIAL_BLOCK)
        )
    raise ValueError(f"unknown CompressionFormat {fmt!r}")


def decompress(fmt: str, blob: bytes) -> bytes:
    """The records back from an object Firehose wrote in ``fmt`` (for checks and tools)."""
    if fmt == "UNCOMPRESSED":
        return blob
    if fmt == "GZIP":
        return gzip.decompress(blob)
    if fmt == "ZIP":
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            (name,) = z.namelist()
            return z.read(name)
    if fmt == "Snappy":
        if not blob.startswith(_XERIAL_MAGIC):
            raise ValueError("not a snappy-java stream (magic \\x82SNAPPY\\x00 missing)")
        out = bytearray()
        pos = len(_XERIAL_MAGIC) + 8
        while pos < len(blob):
            (n,) = _INT.unpack_from(blob, pos)
            out += bytes(cramjam.snappy.decompress_raw(blob[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        return bytes(out)
    if fmt == "HADOOP_SNAPPY":
        return bytes(snappy.HadoopStreamDecompressor().decompress(blob))
    raise ValueError(f"unknown CompressionFormat {fmt!r}")
