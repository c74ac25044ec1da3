"""A tar writer that records where every member's bytes lie, and writes DALI's `.idx` for it.

DALI's `fn.readers.webdataset(index_paths=...)` needs an index in the format of its `wds2idx`
tool (nvidia-dali's wds2idx.py, version "v1.2"): a header line `v1.2 N`, then one line per
sample listing `ext offset size name` for each of its members, where offset is the byte
position of the member's data (after its 512-byte header). `wds2idx` finds these by running
`tar --list` over the finished archive; we know them while writing, so we write the same
format directly instead of reading every tar twice.

Usage:
    with IndexedTarWriter(tar_path) as writer:
        writer.add_sample("train_00000000", {"jpg": data, "palette": raw})
    write_dali_index(idx_path, writer.index)
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

INDEX_VERSION = "v1.2"
BLOCK = tarfile.BLOCKSIZE  # 512


class IndexedTarWriter:
    """Writes WebDataset samples into an uncompressed tar, remembering member offsets."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.index: list[
            list[tuple[str, int, int, str]]
        ] = []  # per sample: (ext, offset, size, name)
        # Closed by close() / __exit__: the writer is itself the context manager.
        self._tar = tarfile.open(self.path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115

    def add_sample(self, key: str, members: dict[str, bytes]) -> None:
        """Append one sample: members maps extension ("jpg", "palette") to its bytes."""
        if "." in key:
            raise ValueError(f"sample key {key!r} contains a dot")
        entries = []
        for extension, data in members.items():
            name = f"{key}.{extension}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0  # fixed, so the same samples give the same tar bytes
            self._tar.addfile(info, io.BytesIO(data))
            # The tar position now sits after the data padded to a whole block.
            data_offset = self._tar.offset - _padded(len(data))
            entries.append((extension, data_offset, len(data), name))
        self.index.append(entries)

    def close(self) -> None:
        self._tar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def write_dali_index(path: Path, index: list[list[tuple[str, int, int, str]]]) -> None:
    """Write the `.idx` text exactly as DALI's wds2idx would for the same tar."""
    lines = [f"{INDEX_VERSION} {len(index)}"]
    for entries in index:
        lines.append(" ".join(" ".join(map(str, entry)) for entry in entries))
    Path(path).write_text("\n".join(lines) + "\n")
