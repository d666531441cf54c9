"""Numeric comparison whose result is stored in a check's `details` and rendered by the reports.

`details["comparison"]` holds: match, expected_shape, received_shape, max_abs_diff, first_diff_index,
and, when both arrays are small (<= 64 elements), `expected` and `received` as nested lists so a report
can show them side by side with the differing cells highlighted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SMALL = 64


def _listed(arr: np.ndarray) -> Any:
    return np.round(arr.astype(np.float64), 6).tolist() if arr.size <= SMALL else None


def compare(expected: np.ndarray, received: np.ndarray, *, rtol: float = 1e-4, atol: float = 1e-5
            ) -> dict[str, Any]:
    """Whether `received` equals `expected` within tolerance, with what a person needs to see why not."""
    expected = np.asarray(expected, dtype=np.float64)
    received = np.asarray(received)
    info: dict[str, Any] = {
        "rtol": rtol,
        "atol": atol,
        "expected_shape": list(expected.shape),
        "received_shape": list(received.shape),
        "expected": _listed(expected),
        "received": _listed(received) if received.dtype.kind in "biuf" else None,
    }
    if received.dtype.kind not in "biuf" or expected.shape != received.shape:
        info.update(match=False, max_abs_diff=None, first_diff_index=None)
        return info
    received = received.astype(np.float64)
    close = np.isclose(received, expected, rtol=rtol, atol=atol) & np.isfinite(received)
    diff = np.abs(received - expected)
    finite = diff[np.isfinite(diff)]
    bad = np.argwhere(~close)
    info.update(
        match=bool(close.all()),
        max_abs_diff=float(finite.max()) if finite.size else None,
        first_diff_index=[int(i) for i in bad[0]] if len(bad) else None,
        mismatches=int(len(bad)),
    )
    return info
