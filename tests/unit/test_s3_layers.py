"""The S3 provider's three layers (api.py parses and renders, model.py holds S3's rules,
store.py keeps rows and files), its one table of storage classes, and the rules that moved
out of the API layer, checked without HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3 import lifecycle, model, restore
from sim.emulator.providers.s3.model import ObjectInfo

S3_DIR = Path(model.__file__).resolve().parent


def _imports(name: str) -> set[str]:
    """Top-level module names and sim.* modules that ``S3_DIR/name`` imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse((S3_DIR / name).read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_each_layer_imports_only_what_it_needs() -> None:
    api, rules, store = _imports("api.py"), _imports("model.py"), _imports("store.py")
    # The API layer reaches storage only through the model.
    assert "sqlite3" not in api and "sim.emulator.providers.s3.store" not in api
    # The model has no SQL, file handling or HTTP.
    assert not {"sqlite3", "os", "shutil", "xml.etree.ElementTree"} & rules
    # The store knows no S3 rules or errors.
    s3 = "sim.emulator.providers.s3"
    assert not {"sim.emulator.protocol", f"{s3}.model", f"{s3}.api"} & store


def test_one_table_of_storage_classes() -> None:
    names = [c.name for c in model.STORAGE_CLASSES]
    assert len(names) == len(set(names))
    assert lifecycle.WATERFALL is model.WATERFALL
    assert restore.ARCHIVE_CLASSES is model.ARCHIVE_CLASSES
    assert model.WATERFALL == (
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "INTELLIGENT_TIERING",
        "ONEZONE_IA",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    )
    assert model.ARCHIVE_CLASSES == ("GLACIER", "DEEP_ARCHIVE")
    assert model.STORAGE_CLASS_NAMES == set(model.WATERFALL) | {
        "OUTPOSTS",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
    for name in model.STORAGE_CLASS_NAMES:
        assert model.validate_storage_class(name) == name
    with pytest.raises(AwsError) as e:
        model.validate_storage_class("COLD")
    assert e.value.code == "InvalidStorageClass"


def test_lifecycle_minimum_days_come_from_the_table() -> None:
    model.check_lifecycle_transitions(
        [("STANDARD_IA", "30"), ("ONEZONE_IA", None), ("GLACIER", "1"), ("", "0")]
    )
    for sclass in ("STANDARD_IA", "ONEZONE_IA"):
        with pytest.raises(AwsError) as e:
            model.check_lifecycle_transitions([("GLACIER", "1"), (sclass, "29")])
        assert e.value.code == "InvalidArgument"
        assert e.value.message == (
            f"'Days' in Transition action must be greater than or equal to 30 "
            f"for storageClass '{sclass}'"
        )


def test_put_limits_and_digests() -> None:
    model.check_single_put_size(str(model.MAX_SINGLE_PUT))
    model.check_single_put_size(None)
    model.check_single_put_size("not a number")
    with pytest.raises(AwsError) as e:
        model.check_single_put_size(str(model.MAX_SINGLE_PUT + 1))
    assert e.value.code == "EntityTooLarge"
    md5_b64 = "XUFAKrxLKna5cZ2REBfFkg=="  # md5(b"hello")
    model.check_content_md5(md5_b64)
    with pytest.raises(AwsError) as e:
        model.check_content_md5("abc")
    assert e.value.code == "InvalidDigest"
    model.verify_content_md5(md5_b64, "5d41402abc4b2a76b9719d911017c592")
    with pytest.raises(AwsError) as e:
        model.verify_content_md5(md5_b64, "00" * 16)
    assert e.value.code == "BadDigest"
    assert model.verify_checksum("crc32", "x", "x") == {"crc32": "x"}
    assert model.verify_checksum("crc32c", "x", None) == {"crc32c": "x"}  # kept unverified
    assert model.verify_checksum("crc32", None, "x") == {}
    with pytest.raises(AwsError) as e:
        model.verify_checksum("crc32", "x", "y")
    assert e.value.code == "BadDigest"
    with pytest.raises(AwsError) as e:
        model.check_body_length("5", 4)
    assert e.value.code == "IncompleteBody"
    assert model.multipart_etag(["00" * 16, "11" * 16]).endswith("-2")


def test_read_and_copy_conditions() -> None:
    obj = ObjectInfo("b", "k", 1, "e1", 1000.5, "")
    model.check_read_conditions(obj, '"e1"', None, None, None)
    with pytest.raises(AwsError) as e:
        model.check_read_conditions(obj, '"e2"', None, None, None)
    assert (e.value.status, e.value.code) == (412, "PreconditionFailed")
    with pytest.raises(AwsError) as e:
        model.check_read_conditions(obj, None, None, None, 999.0)
    assert e.value.status == 412
    model.check_read_conditions(obj, "*", None, None, 999.0)  # If-Match wins
    with pytest.raises(model.NotModified):
        model.check_read_conditions(obj, None, '"e1"', None, None)
    with pytest.raises(model.NotModified):
        model.check_read_conditions(obj, None, None, 1000.0, None)
    model.check_read_conditions(obj, None, '"e2"', 1000.0, None)  # If-None-Match wins
    with pytest.raises(AwsError) as e:
        model.check_copy_conditions(obj, '"e2"', None)
    assert e.value.status == 412
    with pytest.raises(AwsError) as e:
        model.check_copy_conditions(obj, None, "e1")
    assert e.value.status == 412
    with pytest.raises(AwsError) as e:
        model.check_copy_changes(("b", "k"), ("b", "k"), False, None)
    assert e.value.code == "InvalidRequest"
    model.check_copy_changes(("b", "k"), ("b", "k"), True, None)
    model.check_copy_changes(("b", "k"), ("b", "k"), False, "STANDARD")
    model.check_copy_changes(("b", "k"), ("b", "k2"), False, None)
