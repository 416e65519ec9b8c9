#!/usr/bin/env python3
"""Write procedurally drawn doodles (new kinds of things, not ImageNet-like photos) as image folders.

usage: make_doodles.py OUT [--classes spiral,zigzag,star,house,smiley,arrow] --train-per-class 40
                       --val-per-class 100 [--size 64] [--seed 0]
Layout: OUT/train/<class>/*.png and OUT/val/<class>/*.png, as make_fmnist.py writes.
Every picture is its own random object, drawn hand-drawn style (wobbly strokes, random width, rotation,
scale, position, aspect, grey levels, sometimes stray strokes or ruled paper, light pixel noise) at 4x and
downsampled. Calibrated not to be easy: MobileNetV2 feature extraction at 128 px scored 0.81-0.87 best val
accuracy at 10 training pictures per class (seeds 0-2) and 0.91 at 40 (seed 0).
Training pictures come from --seed; validation pictures come from a fixed constant (VAL_SEED), so runs with
different seeds share one validation set, and it never holds a drawing from any training set.
Picture k of a class is seeded on its own, so a smaller --train-per-class gives a prefix of a larger one.
Needs only numpy and Pillow.
"""
import argparse, os
import numpy as np
from PIL import Image, ImageDraw

CLASSES = ["spiral", "zigzag", "star", "house", "smiley", "arrow"]
VAL_SEED = 20240917           # the validation stream: the same whatever --seed is
TRAIN, VAL = 0, 1             # split tags, so the two streams never coincide even when seed == VAL_SEED
SUPERSAMPLE = 4               # draw at 4x, then downsample: antialiased, slightly soft strokes

def circle(cx, cy, rx, ry, start=0.0, sweep=2 * np.pi, n=40):
    t = start + np.linspace(0, sweep, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)

def rotate(p, angle):
    c, s = np.cos(angle), np.sin(angle)
    return p @ np.array([[c, s], [-s, c]])

# Each shape returns strokes (arrays of points) in a frame of about [-1, 1]; the variation inside a class
# is deliberately wide (point counts, turns, proportions, optional parts) so the task is not trivial.
def spiral(r):
    turns, power = r.uniform(1.5, 3.5), r.uniform(0.7, 1.4)      # power < 1: tight centre, > 1: open centre
    t = np.linspace(0, 1, int(60 * turns)) ** power
    rad = r.uniform(0.0, 0.15) + (1 - 0.15) * t
    ang = r.choice([-1, 1]) * 2 * np.pi * turns * t + r.uniform(0, 2 * np.pi)
    return [np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)]

def zigzag(r):
    n = r.integers(3, 9)                                         # corners
    x = np.linspace(-1, 1, n) + r.normal(0, 0.6 / n, n)
    y = np.where(np.arange(n) % 2 == 0, 1, -1) * r.uniform(0.2, 0.7) * r.uniform(0.7, 1.3, n)
    return [np.stack([x, y + r.uniform(-0.2, 0.2)], 1)]

def star(r):
    n, inner = r.integers(5, 9), r.uniform(0.3, 0.6)
    if n == 5 and r.random() < 0.4:                              # the one-stroke pentagram children draw
        ang = np.arange(6) * 4 * np.pi / 5 - np.pi / 2
        return [np.stack([np.cos(ang), np.sin(ang)], 1)]
    ang = np.arange(2 * n + 1) * np.pi / n - np.pi / 2
    rad = np.where(np.arange(2 * n + 1) % 2 == 0, 1.0, inner) * r.uniform(0.85, 1.15, 2 * n + 1)
    return [np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)]

def house(r):
    w, h, roof = r.uniform(0.5, 0.9), r.uniform(0.5, 0.9), r.uniform(0.3, 0.7)
    base = 0.9
    body = np.array([[-w, base - h], [-w, base], [w, base], [w, base - h]])
    eave = base - h                                              # the roof overhangs, then closes the body's top
    top = np.array([[-w - 0.1, eave], [r.uniform(-0.3, 0.3) * w, eave - roof], [w + 0.1, eave], [-w, eave]])
    strokes = [body, top]
    if r.random() < 0.7:                                         # a door somewhere along the bottom
        dx, dw, dh = r.uniform(-0.5, 0.3) * w, r.uniform(0.12, 0.25), r.uniform(0.3, 0.7) * h
        strokes.append(np.array([[dx, base], [dx, base - dh], [dx + dw, base - dh], [dx + dw, base]]))
    if r.random() < 0.5:                                         # a window
        wx, wy, ws = r.uniform(0.1, 0.5) * w, base - h * r.uniform(0.6, 0.8), r.uniform(0.1, 0.2)
        strokes.append(np.array([[wx, wy], [wx + ws, wy], [wx + ws, wy + ws], [wx, wy + ws], [wx, wy]]))
    return strokes

def smiley(r):
    rx, ry = 1.0, r.uniform(0.8, 1.1)
    strokes = [circle(0, 0, rx, ry, r.uniform(0, 6.3), 2 * np.pi + r.uniform(-0.3, 0.3))]  # not always closed
    ex, ey, er = r.uniform(0.25, 0.45), r.uniform(-0.5, -0.2), r.uniform(0.04, 0.12)
    for sx in (-1, 1):
        strokes.append(circle(sx * ex, ey, er, er * r.uniform(0.8, 2), n=10))
    mw, my, sweep = r.uniform(0.3, 0.6), r.uniform(0.1, 0.35), r.uniform(0.5, 1.0) * np.pi
    strokes.append(circle(0, my - mw * 0.3, mw, mw * r.uniform(0.4, 1.0), np.pi / 2 - sweep / 2, sweep, 20))
    return strokes

def arrow(r):
    length, bend = r.uniform(1.3, 2.0), r.uniform(-0.3, 0.3) if r.random() < 0.4 else 0.0
    x = np.linspace(-length / 2, length / 2, 12)
    shaft = np.stack([x, bend * (1 - (2 * x / length) ** 2)], 1)  # straight or gently bowed
    tip, head, spread = shaft[-1], r.uniform(0.25, 0.55), r.uniform(0.35, 0.8)
    wings = [tip + head * np.array([-np.cos(spread), sx * np.sin(spread)]) for sx in (-1, 1)]
    strokes = [shaft, np.array([wings[0], tip, wings[1]])]
    heading = r.uniform(0, 2 * np.pi)                            # any direction, before the common tilt
    return [rotate(s, heading) for s in strokes]

SHAPES = {f.__name__: f for f in (spiral, zigzag, star, house, smiley, arrow)}

def wobble(points, r, amount):
    """Resample a stroke densely and bend it with slow sinusoids plus a little jitter: a hand's line."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0], np.cumsum(seg)])
    s = np.linspace(0, arc[-1], max(2, int(arc[-1] / 0.02)))
    p = np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], 1)
    for _ in range(2):
        freq, phase = r.uniform(1, 4), r.uniform(0, 2 * np.pi, 2)
        p += amount * np.stack([np.sin(freq * s + phase[0]), np.sin(freq * s + phase[1])], 1)
    return p + r.normal(0, amount * 0.15, p.shape)

def draw(name, r, size):
    """One independently drawn picture of class `name` as an RGB image of size x size."""
    big = size * SUPERSAMPLE
    background = r.uniform(150, 255)
    ink = r.uniform(0, background - 60)                          # always readable, but contrast varies
    img = Image.new("L", (big, big), int(background))
    pen = ImageDraw.Draw(img)
    if r.random() < 0.3:                                         # ruled notebook paper: lines that are no class
        gap, y0, slope = big * r.uniform(0.12, 0.25), r.uniform(0, big), r.uniform(-0.05, 0.05) * big
        for y in np.arange(y0 % gap, big, gap):
            pen.line([(0, y), (big, y + slope)], fill=int(background - r.uniform(15, 40)), width=SUPERSAMPLE)
    # The whole doodle shares one tilt, scale, aspect and position: where and how big the child drew it.
    tilt, scale = r.uniform(-np.pi / 6, np.pi / 6), r.uniform(0.35, 0.9)
    aspect = np.exp(r.uniform(-0.3, 0.3))
    shift = r.uniform(-1, 1, 2) * (1 - scale)                    # near an edge now and then, a little cut off
    width = max(1, int(big * r.uniform(0.01, 0.05)))
    strokes = [wobble(s, r, r.uniform(0.01, 0.06)) for s in SHAPES[name](r)]
    for _ in range(r.poisson(0.8)):                              # clutter: stray scribbles that mean nothing
        stray = r.uniform(-1, 1, 2) + np.cumsum(r.uniform(-0.4, 0.4, (r.integers(2, 5), 2)), axis=0)
        strokes.append(wobble(stray, r, 0.03))
    for s in strokes:
        p = rotate(s * [aspect, 1 / aspect], tilt) * scale + shift
        xy = (p + 1) / 2 * big
        pen.line([tuple(q) for q in xy], fill=int(ink), width=width, joint="curve")
    small = np.asarray(img.resize((size, size), Image.LANCZOS), np.float32)
    small += r.normal(0, r.uniform(0, 18), small.shape)          # light sensor-like noise
    return Image.fromarray(np.clip(small, 0, 255).astype(np.uint8)).convert("RGB")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--classes", default=",".join(CLASSES))
    ap.add_argument("--train-per-class", type=int, default=40)
    ap.add_argument("--val-per-class", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0, help="training pictures only; validation is fixed")
    a = ap.parse_args()
    classes = a.classes.split(",")
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        ap.error(f"unknown classes {unknown}; choose from {','.join(CLASSES)}")
    if a.seed < 0:                                               # numpy's seed sequences take no negatives
        ap.error("--seed must be 0 or more")
    splits = (("train", TRAIN, a.seed, a.train_per_class), ("val", VAL, VAL_SEED, a.val_per_class))
    for split, tag, seed, n in splits:
        for c in classes:
            d = os.path.join(a.out, split, c)
            os.makedirs(d, exist_ok=True)
            for k in range(n):
                # One stream per picture, keyed by split, seed, class (by its fixed index) and number.
                r = np.random.default_rng([tag, seed, CLASSES.index(c), k])
                draw(c, r, a.size).save(os.path.join(d, f"{c}_{k:05d}.png"))

if __name__ == "__main__":
    main()
