"""hyenac_build - the package's PEP 517 build backend, in the tree.

`python3 -m pip install ./python` must work on a machine with no network
(Debian 12: pip 23 in a venv). pip builds in an isolated environment and
would download the build requirements there; this backend needs none
(`requires = []` in pyproject.toml), so nothing is fetched, with or
without --no-build-isolation, and setuptools need not be installed.

The package is pure Python, so a wheel is a zip of the hyenac/ folder
plus the .dist-info files (PEP 427): METADATA, WHEEL and RECORD (each
file's sha256 and size). An sdist is the tree as a tar.gz. Editable
installs (pip install -e) put a .pth file pointing at this folder.
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = "hyenac"
VERSION = "0.1"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"

METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: HyenaDNA models compiled by hyenac, from Python through ctypes
Requires-Python: >=3.9
Requires-Dist: numpy
"""

WHEEL = f"""Wheel-Version: 1.0
Generator: hyenac_build {VERSION}
Root-Is-Purelib: true
Tag: {TAG}
"""


def _package_files():
    root = os.path.join(HERE, NAME)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith((".py", ".typed")):
                full = os.path.join(dirpath, f)
                yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f"{arcname},sha256={digest.rstrip(b'=').decode()},{len(data)}"


def _write_wheel(wheel_directory, files):
    """files: (arcname, bytes) pairs; the dist-info is added here."""
    dist = f"{NAME}-{VERSION}.dist-info"
    name = f"{NAME}-{VERSION}-{TAG}.whl"
    entries = list(files) + [(f"{dist}/METADATA", METADATA.encode()),
                             (f"{dist}/WHEEL", WHEEL.encode())]
    record = [_record_line(a, d) for a, d in entries]
    record.append(f"{dist}/RECORD,,")
    entries.append((f"{dist}/RECORD", ("\n".join(record) + "\n").encode()))
    path = os.path.join(wheel_directory, name)
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    os.replace(tmp, path)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist = f"{NAME}-{VERSION}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist), exist_ok=True)
    with open(os.path.join(metadata_directory, dist, "METADATA"), "w") as f:
        f.write(METADATA)
    with open(os.path.join(metadata_directory, dist, "WHEEL"), "w") as f:
        f.write(WHEEL)
    return dist


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for full, arcname in _package_files():
        with open(full, "rb") as f:
            files.append((arcname, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    return _write_wheel(wheel_directory,
                        [(f"_{NAME}_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{VERSION}"
    name = f"{base}.tar.gz"
    path = os.path.join(sdist_directory, name)
    with tarfile.open(path, "w:gz") as t:
        for rel in ("pyproject.toml", "_build/hyenac_build.py"):
            t.add(os.path.join(HERE, rel), f"{base}/{rel}")
        for full, arcname in _package_files():
            t.add(full, f"{base}/{arcname}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
