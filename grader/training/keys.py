"""The training check's random streams, derived one-way from the run's seed.

The run's seed and the held-out key stay in the parent. The sandbox only ever gets seeds derived from a
slow hash of the run's seed, per network and purpose: no number it sees leads back to the seed or to the
held-out key. The slow step matters because the run's seed has only 31 bits: a plain hash could be undone
by trying every seed, while PBKDF2's rounds make each try cost tens of milliseconds (years for all of them).
"""

from __future__ import annotations

import functools
import hashlib

ROUNDS = 100_000
SALT = b"unet-grader training streams v1"
HELD_OUT = "held-out"
STAGE_PURPOSES = ("data_seed", "batchnorm_seed", "init_seed")


@functools.lru_cache(maxsize=16)
def _root(seed: int) -> bytes:
    """The one slow step, done once per seed and process (every submission of a class shares the seed)."""
    return hashlib.pbkdf2_hmac("sha256", str(int(seed)).encode(), SALT, ROUNDS)


def derive(seed: int, *purpose: str) -> int:
    """A 63-bit seed for `purpose` (numpy and torch both take it), independent of every other purpose."""
    digest = hashlib.sha256(_root(seed) + "/".join(purpose).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def held_out_key(seed: int) -> int:
    """The key of the held-out images: the parent's secret, never part of any stage's task or inputs."""
    return derive(seed, HELD_OUT)


def stage_seeds(seed: int, net: str) -> dict[str, int]:
    """What network `net`'s stage draws with: its training images, its BatchNorm images, its initial weights."""
    return {purpose: derive(seed, net, purpose) for purpose in STAGE_PURPOSES}
