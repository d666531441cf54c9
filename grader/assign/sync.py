"""Compare a rendered kit with the files on disk, and bring the disk up to date."""

from __future__ import annotations

from pathlib import Path

from .generate import kit_files


def stale_files(kit: dict[str, bytes], target: Path) -> list[str]:
    """Paths (relative to `target`) that are missing, different, or not part of the kit."""
    on_disk = {str(rel) for rel in kit_files(target)} if target.is_dir() else set()
    differ = [rel for rel, data in kit.items() if rel not in on_disk or (target / rel).read_bytes() != data]
    extra = on_disk - kit.keys()
    return sorted([*differ, *extra])


def write_kit(kit: dict[str, bytes], target: Path) -> list[str]:
    """Write the stale files, delete files the kit no longer has; return what changed."""
    changed = stale_files(kit, target)
    for rel in changed:
        path = target / rel
        if rel in kit:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(kit[rel])
        else:
            path.unlink()
    _prune_empty_dirs(target)
    return changed


def _prune_empty_dirs(target: Path) -> None:
    # Deepest first, so a folder emptied by removing its only subfolder goes too.
    folders = sorted((p for p in target.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for folder in folders:
        if not any(folder.iterdir()):
            folder.rmdir()
