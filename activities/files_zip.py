"""ZIP archives opened with a guard: uploaded ZIPs and the packages of DOCX, PPTX and XLSX."""

from __future__ import annotations

import io
import zipfile

from activities.errors import ToolError

# Archives (uploaded ZIPs and the ZIP containers of DOCX/PPTX/XLSX) are refused beyond these
# sizes before anything is inflated: zipfile stops every member at its declared size, so the
# declared total bounds the memory a bomb can take.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_ZIP_MEMBERS = 500  # an uploaded ZIP
MAX_CONTAINER_MEMBERS = 10_000  # an Office document's own package


def open_zip(name: str, data: bytes, max_members: int) -> zipfile.ZipFile:
    """A ZipFile whose declared sizes and member count are within bounds (zip-bomb guard)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ToolError(f"{name} is not a readable ZIP package: {error}") from None
    infos = archive.infolist()
    unpacked = sum(info.file_size for info in infos)
    if len(infos) > max_members:
        archive.close()
        raise ToolError(
            f"refused {name}: the archive has {len(infos)} entries (at most {max_members})"
        )
    if unpacked > MAX_UNPACKED_BYTES:
        archive.close()
        raise ToolError(
            f"refused {name}: it unpacks to {unpacked} bytes (at most {MAX_UNPACKED_BYTES}); "
            "possibly a zip bomb"
        )
    return archive


def guard_container(name: str, data: bytes) -> None:
    open_zip(name, data, MAX_CONTAINER_MEMBERS).close()


__all__ = ["MAX_UNPACKED_BYTES", "MAX_ZIP_MEMBERS", "guard_container", "open_zip"]
