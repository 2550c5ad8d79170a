"""A faithful pure-Python re-run of the V-System tree voxelisation (docs/methods/engine.md §2.7), for speed comparison only.

Stages, as in the original code: grammar string -> radial turtle reading the string one character at a time
(node arrays grow by one copied column per point) -> 6-point windows with stride 5 -> discretisation (per-axis
1.1 x min/max normalisation, diameters as voxel counts) -> painting (Cohen's 3-D integer walk, a disc orthogonal
to the stepped grid axis painted by two nested Python loops, indices shifted by -1, last write wins) -> faces
zeroed. Nothing here is used by angiogen itself.
"""

from __future__ import annotations

import math
import random

import numpy as np


def bifurcation(d0: float, asym: float, k: float, sigma_d: float, rng: random.Random) -> tuple[float, float, float, float]:
    """Murray-law daughters and Zamir angles (the same formula as the original)."""
    d_opt = d0 * asym ** (-1.0 / k)
    d1 = abs(rng.gauss(d_opt, d_opt / sigma_d))
    if d1 >= d0:
        d1 = d_opt
    d2 = (d0**k - d1**k) ** (1.0 / k)
    alpha = d2 / d1
    a3 = 1.0 + alpha**3
    cos1 = (a3 ** (4 / 3) + 1.0 - alpha**4) / (2.0 * a3 ** (2 / 3))
    cos2 = (a3 ** (4 / 3) + alpha**4 - 1.0) / (2.0 * alpha**2 * a3 ** (2 / 3))
    return d1, d2, math.degrees(math.acos(max(-1, min(1, cos1)))), math.degrees(math.acos(max(-1, min(1, cos2))))


def grammar_string(n_iter: int, d0: float, epsilon: float, margin: float, sigma_d: float, k: float, asym: float,
                   seed: int) -> str:
    """Rewrite the axiom F(n_iter, d0) n_iter times into a string of f(l,d) + - / [ ] symbols."""
    rng = random.Random(seed)

    def signed(lo: float = 22.5, hi: float = 27.5) -> float:
        return rng.uniform(lo, hi) * rng.choice((-1, 0, 1))

    def expand_f(n: int, d: float) -> str:
        if n <= 0:
            return ""
        d1, d2, t1, t2 = bifurcation(d, asym, k, sigma_d, rng)
        tau = signed()
        return (expand_s(n - 1, d) + f"[+({t1:.2f})/({tau:.2f})" + expand_f(n - 1, d1) + "]"
                + f"[-({t2:.2f})/({tau:.2f})" + expand_f(n - 1, d2) + "]")

    def expand_s(n: int, d: float) -> str:
        if n <= 0:
            return ""
        rho = signed()
        first, second = ("+", "-") if rng.random() < 0.5 else ("-", "+")
        pieces = [expand_d(n - 1, d) for _ in range(5)]
        return (pieces[0] + f"{first}({rho:.2f})" + pieces[1] + f"{second}({rho:.2f})" + pieces[2]
                + f"{second}({rho:.2f})" + pieces[3] + f"{first}({rho:.2f})" + pieces[4])

    def expand_d(n: int, d: float) -> str:
        if n <= 0:
            return ""
        length = rng.uniform(epsilon * d - margin, epsilon * d + margin)
        return f"f({length / 5:.2f},{d:.2f})"

    return expand_f(n_iter, d0)


def _argument(text: str, start: int) -> str:
    """The original parser: the argument starts two characters after the symbol and ends at the next ')'."""
    return text[start + 2 : text.index(")", start)]


def radial_turtle(text: str) -> np.ndarray:
    """Read the string one character at a time; return a (4, P) array of x, y, z, diameter (NaN = separator)."""
    position = [0.1, 0.1, 1.0]
    alpha = beta = 0.0
    diameter = 1.0
    stack = []
    points = np.array([[position[0]], [position[1]], [position[2]], [diameter]])
    for i, char in enumerate(text):
        if char == "f":
            args = _argument(text, i).split(",")
            length, diameter = float(args[0]), float(args[1])
            norm = math.sqrt(sum(c * c for c in position))
            vx, vy, vz = (length * c / norm for c in position)
            ca, sa = math.cos(math.radians(alpha)), math.sin(math.radians(alpha))
            cb, sb = math.cos(math.radians(beta)), math.sin(math.radians(beta))
            vy, vz = ca * vy - sa * vz, sa * vy + ca * vz  # R_x(alpha)
            vx, vz = cb * vx + sb * vz, -sb * vx + cb * vz  # R_y(beta)
            position = [position[0] + vx, position[1] + vy, position[2] + vz]
            points = np.hstack([points, np.array([[position[0]], [position[1]], [position[2]], [diameter]])])
        elif char == "+":
            alpha += float(_argument(text, i))
        elif char == "-":
            alpha -= float(_argument(text, i))
        elif char == "/":
            beta += float(_argument(text, i))
        elif char == "[":
            stack.append((list(position), alpha, beta, diameter))
        elif char == "]":
            position, alpha, beta, diameter = stack.pop()
            points = np.hstack([points, np.full((4, 1), np.nan)])
            points = np.hstack([points, np.array([[position[0]], [position[1]], [position[2]], [diameter]])])
    return points


def windows(points: np.ndarray) -> list[np.ndarray]:
    """Swap axes (z, y, x -> 0, 1, 2), drop exact repeats, cut polylines into 6-point windows, stride 5."""
    swapped = points[[2, 1, 0, 3]].T
    polylines, current = [], []
    for row in swapped:
        if np.isnan(row[0]):
            polylines.append(current)
            current = []
            continue
        if current and np.array_equal(current[-1][:3], row[:3]):
            continue
        current.append(row)
    polylines.append(current)
    out = []
    for line in polylines:
        for start in range(0, len(line) - 5, 5):
            out.append(np.array(line[start : start + 6]))
    return out


def discretise(window_list: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Per-axis lo = 1.1 min, hi = 1.1 max; index = floor(N (c - lo) / (hi - lo)); diameters kept as voxels."""
    allpoints = np.concatenate(window_list)
    lo = 1.1 * allpoints[:, :3].min(axis=0)
    hi = 1.1 * allpoints[:, :3].max(axis=0)
    result = []
    for window in window_list:
        idx = np.floor(size * (window[:, :3] - lo) / (hi - lo)).astype(int)
        result.append(np.column_stack([idx, window[:, 3]]))
    return result


def paint(discrete: list[np.ndarray], size: int) -> np.ndarray:
    """Cohen's 3-D integer walk with a disc orthogonal to the stepped axis, in pure Python loops."""
    volume = np.empty((size, size, size), dtype=np.int64)
    for window in discrete:
        for n in range(len(window) - 1):
            start = [int(v) for v in window[n, :3]]
            end = [int(v) for v in window[n + 1, :3]]
            radius = int(math.floor((window[n, 3] + window[n + 1, 3]) / 2 / 2))
            _walk(volume, start, end, radius, size)
    volume[0, :, :] = volume[-1, :, :] = 0
    volume[:, 0, :] = volume[:, -1, :] = 0
    volume[:, :, 0] = volume[:, :, -1] = 0
    return volume


def _walk(volume: np.ndarray, start: list[int], end: list[int], radius: int, size: int) -> None:
    x, y, z = start
    dx, dy, dz = end[0] - x, end[1] - y, end[2] - z
    sx, sy, sz = (dx > 0) - (dx < 0), (dy > 0) - (dy < 0), (dz > 0) - (dz < 0)
    ax, ay, az = abs(dx), abs(dy), abs(dz)
    bx, by, bz = 2 * ax, 2 * ay, 2 * az
    exy, exz, ezy = ay - ax, az - ax, ay - az
    for _ in range(ax + ay + az):
        if exy < 0 and exz < 0:
            x += sx
            exy += by
            exz += bz
            axis = 0
        elif exy < 0 or ezy < 0:
            z += sz
            exz -= bx
            ezy += by
            axis = 2
        else:
            y += sy
            exy -= bx
            ezy -= bz
            axis = 1
        point = (x, y, z)
        if not 0 <= point[axis] < size:
            continue
        others = [a for a in range(3) if a != axis]
        for i in range(-radius, radius + 1):
            for j in range(-radius, radius + 1):
                u = point[others[0]] + i
                v = point[others[1]] + j
                if 0 <= u < size and 0 <= v < size and math.sqrt(i * i + j * j) <= radius:
                    index = [0, 0, 0]
                    index[axis] = point[axis] - 1
                    index[others[0]] = u - 1
                    index[others[1]] = v - 1
                    volume[index[0], index[1], index[2]] = 1
