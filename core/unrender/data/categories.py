"""The object categories: random parts (sizes, layouts, topology) and colours from a seed.

Each generator takes a ``random.Random`` and returns ``(parts, colors)`` in free units, ``y`` up, the
front facing ``+z``; :func:`make_object` normalises them into the canonical frame.
"""

from __future__ import annotations

import colorsys
import math
import random

import torch

from .objects import ProceduralObject, normalized_object
from .parts import Box, Lathe, Tube, rotation_matrix

__all__ = ["CATEGORIES", "make_object"]


def _color(rng: random.Random, hue=None, sat=(0.25, 0.65), val=(0.45, 0.92)) -> tuple[float, float, float]:
    h = rng.random() if hue is None else (rng.uniform(*hue) % 1.0)
    return colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))


def _wood_or_color(rng: random.Random):
    if rng.random() < 0.4:  # wood
        return _color(rng, hue=(0.05, 0.11), sat=(0.35, 0.65), val=(0.35, 0.8))
    if rng.random() < 0.2:  # metal / black / white
        return _color(rng, sat=(0.0, 0.08), val=(0.3, 0.9))
    return _color(rng)


def _leg(round_section: bool, x: float, z: float, top: float, bottom: float, w: float, splay=(0.0, 0.0)):
    """A leg from ``bottom`` to ``top`` at ``(x, z)``, square (Box) or round (Lathe), optionally splayed
    (the foot pushed out by ``splay`` in x and z)."""
    sx, sz = splay
    foot = (x + sx, bottom, z + sz)
    head = (x, top, z)
    centre = [(a + b) / 2 for a, b in zip(foot, head)]
    d = torch.tensor(head) - torch.tensor(foot)
    length = float(d.norm())
    y_axis = d / length
    helper = torch.tensor([1.0, 0.0, 0.0])
    z_axis = torch.linalg.cross(helper, y_axis)
    z_axis = z_axis / z_axis.norm()
    x_axis = torch.linalg.cross(y_axis, z_axis)
    rot = torch.stack([x_axis, y_axis, z_axis], 1)
    if round_section:
        return Lathe([(0, -length / 2), (w * 0.6, -length / 2), (w, length / 2), (0, length / 2)], centre, rot, 16)
    return Box(centre, (w, length / 2, w), rot)


def _chair(rng: random.Random):
    parts, colors = [], []
    frame, seat_col = _wood_or_color(rng), _color(rng)
    if rng.random() < 0.35:
        seat_col = frame
    w, d = rng.uniform(0.4, 0.6), rng.uniform(0.38, 0.55)
    t = rng.uniform(0.03, 0.08)
    sh = rng.uniform(0.38, 0.5)
    if rng.random() < 0.2:  # round seat
        r = max(w, d) / 2
        parts.append(Lathe([(0, sh - t), (r, sh - t), (r, sh), (0, sh)], segments=32))
        w = d = r * 2 * 0.8
    else:
        parts.append(Box((0, sh - t / 2, 0), (w / 2, t / 2, d / 2)))
    colors.append(seat_col)
    base = rng.choice(["legs", "legs", "legs", "sled", "pedestal"])
    lw = rng.uniform(0.015, 0.03)
    if base == "legs":
        round_legs = rng.random() < 0.4
        inset = lw + rng.uniform(0.0, 0.04)
        splay = rng.uniform(0.0, 0.04)
        for sx in (-1, 1):
            for sz in (-1, 1):
                x, z = sx * (w / 2 - inset), sz * (d / 2 - inset)
                parts.append(_leg(round_legs, x, z, sh - t / 2, 0.0, lw, (sx * splay, sz * splay)))
                colors.append(frame)
        if rng.random() < 0.4:  # stretchers
            y = rng.uniform(0.08, 0.2)
            for sx in (-1, 1):
                parts.append(Box((sx * (w / 2 - inset + splay * (1 - y / sh)), y, 0), (lw * 0.6, lw * 0.6, d / 2 - inset)))
                colors.append(frame)
    elif base == "sled":
        r = lw * 0.8
        for sx in (-1, 1):
            x = sx * (w / 2 - r * 2)
            zf, zb = d / 2 - 0.03, -d / 2 + 0.03
            curve = [(x, sh - t / 2, zf), (x, r, zf + 0.04), (x, r, zb - 0.02), (x, sh - t / 2, zb)]
            parts.append(Tube(_smooth(curve, 2), r, 12))
            colors.append(frame)
    else:
        col = rng.uniform(0.025, 0.05)
        parts.append(Lathe([(0, 0.03), (col, 0.03), (col, sh - t / 2), (0, sh - t / 2)], segments=20))
        colors.append(frame)
        if rng.random() < 0.5:
            n = rng.choice([4, 5])
            reach = rng.uniform(0.22, 0.3)
            for k in range(n):
                rot = rotation_matrix("y", 360 * k / n)
                c = torch.tensor([reach / 2, 0.025, 0.0]) @ rot.T
                parts.append(Box(c, (reach / 2, 0.025, 0.02), rot))
                colors.append(frame)
        else:
            rr = rng.uniform(0.18, 0.26)
            parts.append(Lathe(_frustum(rr, rr * 0.9, 0.0, 0.04), segments=32))
            colors.append(frame)
    # back
    bh = rng.uniform(0.3, 0.55)
    bt = rng.uniform(0.025, 0.05)
    tilt = rng.uniform(0, 14)
    pivot = torch.tensor([0.0, sh - t, -d / 2 + bt / 2])
    rot = rotation_matrix("x", -tilt)
    back_col = seat_col if rng.random() < 0.6 else _color(rng)

    def back_box(c, h, col):
        parts.append(Box((torch.tensor(c) - pivot) @ rot.T + pivot, h, rot))
        colors.append(col)

    bw = w / 2 - (0.0 if rng.random() < 0.5 else rng.uniform(0.0, 0.05))
    y0 = sh - t
    back = "solid" if rng.random() < 0.45 else "slatted"
    if back == "solid":
        gap = rng.uniform(0.0, 0.12) if base == "legs" else 0.0
        back_box((0, y0 + gap + (bh - gap) / 2 + t / 2, pivot[2]), (bw, (bh - gap) / 2, bt / 2), back_col)
        if gap > 0:  # posts hold it
            for sx in (-1, 1):
                back_box((sx * (bw - 0.02), y0 + (gap + t) / 2 + 0.01, pivot[2]), (0.02, (gap + t) / 2 + 0.01, bt / 2), frame)
    else:  # posts + top rail + slats: holes
        post = rng.uniform(0.018, 0.03)
        for sx in (-1, 1):
            back_box((sx * (bw - post), y0 + bh / 2, pivot[2]), (post, bh / 2, bt / 2), frame)
        rail = rng.uniform(0.03, 0.08)
        back_box((0, y0 + bh - rail / 2, pivot[2]), (bw, rail / 2, bt / 2 * 1.05), back_col)
        inner = bw - 2 * post
        if rng.random() < 0.6:  # vertical slats
            n = rng.randint(1, 4)
            sw = rng.uniform(0.012, 0.3 * inner / n)
            for k in range(n):
                x = -inner + (2 * k + 1) * inner / n
                back_box((x, y0 + (bh - rail) / 2, pivot[2]), (sw, (bh - rail) / 2, bt / 2 * 0.8), back_col)
        else:  # horizontal slats
            n = rng.randint(1, 3)
            span = bh - rail
            for k in range(n):
                y = y0 + span * (k + 1) / (n + 1)
                back_box((0, y, pivot[2]), (inner + post, rng.uniform(0.015, 0.035), bt / 2 * 0.8), back_col)
    arms = rng.random() < 0.35
    if arms:
        ah = rng.uniform(0.18, 0.26)
        for sx in (-1, 1):
            x = sx * (w / 2 + 0.02)
            parts.append(Box((x, sh + ah, -0.02), (0.03, 0.018, d / 2 - 0.01)))
            parts.append(Box((x, sh - t / 2 + (ah + t / 2) / 2, d / 2 - 0.06), (0.018, (ah + t / 2) / 2 + 0.01, 0.018)))
            colors += [frame, frame]
            parts.append(Box((x * 0.98, sh - t / 2, d / 2 - 0.06), (0.04, 0.01, 0.02)))
            colors.append(frame)
    return parts, colors, {"base": base, "back": back, "arms": arms}


def _frustum(r_bottom: float, r_top: float, y0: float, y1: float) -> list:
    """A solid frustum profile; when it narrows upwards its foot starts with a short upright band, so the
    bottom edge is square, not a knife edge."""
    band = 0.25 * (y1 - y0) if r_top < r_bottom else 0.0
    return [(0, y0), (r_bottom, y0), (r_bottom, y0 + band), (r_top, y1), (0, y1)]


def _offset_inward(a, b, distance: float):
    """The ``(r, y)`` segment ``a -> b`` (a wall going up) moved ``distance`` towards the axis, square to it."""
    dr, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dr, dy)
    nr, ny = dy / length, -dr / length  # outward normal
    return (a[0] - distance * nr, a[1] - distance * ny), (b[0] - distance * nr, b[1] - distance * ny)


def _smooth(points, n: int):
    """The polyline ``points`` with rounded corners: Chaikin's corner cutting, ``n`` rounds (at most 4)."""
    p = torch.tensor(points, dtype=torch.float32)
    for _ in range(min(n, 4)):
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        p = torch.cat([p[:1], torch.stack([q, r], 1).reshape(-1, 3), p[-1:]])
    return p


def _table(rng: random.Random):
    parts, colors = [], []
    top_col, frame = _wood_or_color(rng), _wood_or_color(rng)
    if rng.random() < 0.4:
        frame = top_col
    h = rng.uniform(0.55, 0.8)
    t = rng.uniform(0.025, 0.06)
    round_top = rng.random() < 0.35
    if round_top:
        r = rng.uniform(0.3, 0.6)
        parts.append(Lathe([(0, h - t), (r, h - t), (r, h), (0, h)], segments=40))
        w = d = r * 1.2  # the legs' square stays under the round top
    else:
        w, d = rng.uniform(0.6, 1.6), rng.uniform(0.5, 0.9)
        parts.append(Box((0, h - t / 2, 0), (w / 2, t / 2, d / 2)))
    colors.append(top_col)
    base = rng.choice(["legs", "legs", "pedestal", "trestle"])
    lw = rng.uniform(0.02, 0.045)
    if base == "legs":
        round_legs = rng.random() < 0.4
        inset = lw + rng.uniform(0.02, 0.08)
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(_leg(round_legs, sx * (w / 2 - inset), sz * (d / 2 - inset), h - t / 2, 0.0, lw))
                colors.append(frame)
        if rng.random() < 0.5:  # apron
            ah = rng.uniform(0.04, 0.1)
            y = h - t - ah / 2
            parts.append(Box((0, y, d / 2 - inset), (w / 2 - inset, ah / 2, lw * 0.5)))
            parts.append(Box((0, y, -(d / 2 - inset)), (w / 2 - inset, ah / 2, lw * 0.5)))
            parts.append(Box((w / 2 - inset, y, 0), (lw * 0.5, ah / 2, d / 2 - inset)))
            parts.append(Box((-(w / 2 - inset), y, 0), (lw * 0.5, ah / 2, d / 2 - inset)))
            colors += [frame] * 4
        if rng.random() < 0.3:  # lower shelf
            parts.append(Box((0, rng.uniform(0.1, 0.25), 0), (w / 2 - inset, 0.012, d / 2 - inset)))
            colors.append(top_col)
    elif base == "pedestal":
        col = rng.uniform(0.04, 0.09)
        parts.append(Lathe(_frustum(col, col * rng.uniform(0.6, 1.0), 0.0, h - t / 2), segments=24))
        colors.append(frame)
        if rng.random() < 0.5:
            rr = min(w, d) * rng.uniform(0.3, 0.45)
            parts.append(Lathe(_frustum(rr, rr * 0.7, 0.0, 0.05), segments=32))
            colors.append(frame)
        else:
            reach = min(w, d) * rng.uniform(0.35, 0.45)
            for k in range(4):
                rot = rotation_matrix("y", 45 + 90 * k)
                parts.append(Box(torch.tensor([reach / 2, 0.03, 0.0]) @ rot.T, (reach / 2, 0.03, 0.025), rot))
                colors.append(frame)
    else:  # trestle: two end frames and a stretcher
        x = w / 2 - rng.uniform(0.05, 0.15)
        fd = d / 2 - 0.04
        pw = rng.uniform(0.02, 0.05)
        for sx in (-1, 1):
            if rng.random() < 0.5:  # panel
                parts.append(Box((sx * x, (h - t / 2) / 2, 0), (pw, (h - t / 2) / 2, fd * 0.8)))
                colors.append(frame)
            else:  # upright + foot + head
                parts.append(Box((sx * x, (h - t / 2) / 2, 0), (pw, (h - t / 2) / 2, pw * 1.5)))
                parts.append(Box((sx * x, 0.03, 0), (pw * 1.2, 0.03, fd)))
                parts.append(Box((sx * x, h - t - 0.02, 0), (pw * 1.2, 0.02, fd * 0.9)))
                colors += [frame] * 3
        parts.append(Box((0, rng.uniform(0.15, 0.4) * h, 0), (x, 0.025, 0.02)))
        colors.append(frame)
    return parts, colors, {"top": "round" if round_top else "rect", "base": base}


def _mug(rng: random.Random):
    h = 1.0
    R = rng.uniform(0.3, 0.48)
    Rb = R * rng.uniform(0.75, 1.0)
    wall = rng.uniform(0.035, 0.07)
    bottom = rng.uniform(0.05, 0.1)
    # the inner wall is the outer one offset along its normal, so the rim is square to the wall
    inner_bottom, inner_top = _offset_inward((Rb, 0.0), (R, h), wall)
    slope = (inner_top[0] - inner_bottom[0]) / (inner_top[1] - inner_bottom[1])
    floor_r = inner_bottom[0] + slope * (bottom - inner_bottom[1])
    profile = [(0, 0), (Rb, 0), (R, h), inner_top, (floor_r, bottom), (0, bottom)]
    body = Lathe(profile, segments=40)
    col = _color(rng, sat=(0.2, 0.75), val=(0.5, 0.95))
    parts, colors = [body], [col]
    # handle: a D-shaped or round loop in the x-y plane on the +x side, ends inside the wall
    y1, y2 = rng.uniform(0.15, 0.3), rng.uniform(0.7, 0.88)
    rt = rng.uniform(0.03, 0.055)
    reach = rng.uniform(0.2, 0.32)

    def wall_x(y):
        return Rb + (R - Rb) * y / h - wall * 0.6

    n = 24
    pts = []
    for k in range(n + 1):
        s = k / n
        a = math.pi * (s - 0.5)  # -90 .. 90 degrees
        y = (y1 + y2) / 2 + (y2 - y1) / 2 * math.sin(a)
        bulge = math.cos(a) ** 0.7
        pts.append((wall_x(y) + (reach + wall / 2) * bulge, y, 0.0))
    parts.append(Tube(pts[::-1], rt, 12))
    colors.append(col if rng.random() < 0.8 else _color(rng))
    return parts, colors, {"handle": "loop"}


def _lamp(rng: random.Random):
    metal = _color(rng, sat=(0.0, 0.15), val=(0.3, 0.85)) if rng.random() < 0.6 else _color(rng)
    shade_col = _color(rng, sat=(0.15, 0.6), val=(0.6, 0.97))
    parts, colors = [], []
    br = rng.uniform(0.12, 0.22)
    bh = rng.uniform(0.03, 0.08)
    if rng.random() < 0.7:
        parts.append(Lathe(_frustum(br, br * rng.uniform(0.6, 1.0), 0.0, bh), segments=32))
    else:
        parts.append(Box((0, bh / 2, 0), (br, bh / 2, br * rng.uniform(0.6, 1.0))))
    colors.append(metal)
    H = rng.uniform(0.5, 1.2)
    pr = rng.uniform(0.012, 0.025)
    parts.append(Lathe([(0, bh * 0.5), (pr, bh * 0.5), (pr, H), (0, H)], segments=16))
    colors.append(metal)
    sr_bot = min(rng.uniform(0.15, 0.3), 0.3 * H)
    sr_top = sr_bot * rng.uniform(0.35, 1.0)  # never wider at the top: the closed top's edge stays square or blunt
    sh = rng.uniform(0.15, 0.3)
    st = rng.uniform(0.008, 0.018)
    # a shell of thickness st, its bottom rim square to the wall (no knife edge)
    in_bot, in_top = _offset_inward((sr_bot, 0.0), (sr_top, sh), st)
    slope = (in_top[0] - in_bot[0]) / (in_top[1] - in_bot[1])
    shell = [(sr_top, sh), (sr_bot, 0.0), in_bot, (in_bot[0] + slope * (sh - st - in_bot[1]), sh - st), (0, sh - st), (0, sh)]
    arm = rng.random() >= 0.5
    if not arm:  # straight: the shade over the pole top
        parts.append(Lathe(shell, (0, H - sh * 0.6, 0), segments=40))
        colors.append(shade_col)
        parts.append(Tube([(0, H - sh * 0.6 - 0.02, 0), (0, H - sh * 0.6 + sh * 0.5, 0)], 0.035, 12))  # socket
        colors.append(metal)
        # the pole reaches the closed top of the shade
        parts[-3] = Lathe([(0, bh * 0.5), (pr, bh * 0.5), (pr, H - sh * 0.6 + sh - st / 2), (0, H - sh * 0.6 + sh - st / 2)], segments=16)
    else:  # a bent arm carrying a downward shade
        reach = rng.uniform(0.2, 0.45)
        drop = rng.uniform(0.0, 0.15)
        curve = _smooth([(0, H - 0.02, 0), (0, H + 0.12, 0), (reach, H + 0.12, 0), (reach, H + 0.12 - drop - 0.05, 0)], 3)
        parts.append(Tube(curve, pr * 0.9, 10))
        colors.append(metal)
        y = H + 0.12 - drop - 0.05 - sh + 0.02
        parts.append(Lathe(shell, (reach, y, 0), segments=40))
        colors.append(shade_col)
        if rng.random() < 0.5:
            rot = rotation_matrix("y", rng.uniform(0, 360))
            for p in parts[-2:]:
                if isinstance(p, Tube):
                    p.curve = p.curve @ rot.T
                else:
                    p.center = p.center @ rot.T
    return parts, colors, {"arm": arm}


def _shelf(rng: random.Random):
    col = _wood_or_color(rng)
    back_col = col if rng.random() < 0.6 else _color(rng, val=(0.6, 0.95))
    w, h, d = rng.uniform(0.5, 1.2), rng.uniform(0.6, 1.8), rng.uniform(0.25, 0.4)
    t = rng.uniform(0.015, 0.035)
    parts = [Box((s * (w / 2 - t / 2), h / 2, 0), (t / 2, h / 2, d / 2)) for s in (-1, 1)]
    parts += [Box((0, h - t / 2, 0), (w / 2, t / 2, d / 2)), Box((0, t / 2 + 0.02, 0), (w / 2 - t / 2, t / 2, d / 2))]
    n = rng.randint(1, 4)
    for k in range(n):
        parts.append(Box((0, 0.02 + (h - 0.02) * (k + 1) / (n + 1), 0), (w / 2 - t / 2, t / 2, d / 2 * 0.98)))
    colors = [col] * len(parts)
    back = rng.random() < 0.4
    if back:
        parts.append(Box((0, h / 2, -d / 2 + t / 4), (w / 2 - t / 2, h / 2 - t / 2, t / 4)))
        colors.append(back_col)
    if rng.random() < 0.4 and w > 0.7:  # a divider
        parts.append(Box((rng.uniform(-0.2, 0.2) * w, h / 2, 0), (t / 2, h / 2 - t, d / 2 * 0.98)))
        colors.append(col)
    return parts, colors, {"back": back}


_GENERATORS = {"chair": _chair, "table": _table, "mug": _mug, "lamp": _lamp, "shelf": _shelf}

#: the categories in index order (the index is the ``category`` stored in a dataset)
CATEGORIES: tuple[str, ...] = tuple(_GENERATORS)


def make_object(category: str, seed: int) -> ProceduralObject:
    """A random object of ``category`` (one of :data:`CATEGORIES`) from ``seed``: the same seed gives the
    same object. Canonical frame: ``y`` up, bounding-box centre at the origin, farthest vertex at 0.5."""
    if category not in _GENERATORS:
        raise ValueError(f"category: expected one of {', '.join(CATEGORIES)}, found {category!r}")
    parts, colors, style = _GENERATORS[category](random.Random(int(seed)))
    return normalized_object(category, int(seed), parts, colors, style)
