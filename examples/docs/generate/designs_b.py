"""Sample designs, part two: social card, blend modes, strokes, transforms, photo layout."""

import math

from nodes import (document, ellipse, group, image, linear, page, path, r, radial, rect,
                   rotate, scale, stroke, text, translate)


def social_card(photo, avatar):
    """An article's social card: a cover-fit photo, a gradient scrim, wrapped headline."""
    layers = [
        image("photo", 0, 0, 1200, 630, fit="cover"),
        rect(0, 0, 1200, 630, fill="#7c3aed", opacity=0.45, blend="multiply", name="Tint"),
        rect(0, 0, 1200, 630, fill=linear([0, 0], [1200, 0], [0, "#0f172aee"], [0.55, "#0f172a99"], [1, "#0f172a00"]),
             name="Scrim"),
        rect(80, 70, 200, 48, radius=24, fill="#facc15"),
        text(80, 82, "ENGINEERING", 20, weight=700, align="center", maxWidth=200, fill="#111827"),
        text(80, 150, "How we render ten thousand thumbnails a minute on two cores", 60, weight=700,
             maxWidth=760, lineHeight=1.15, fill="#ffffff"),
        group([image("avatar", 80, 498, 64, 64, fit="cover")], clip=ellipse(112, 530, 32)),
        text(164, 500, "Ada Lovelace", 24, weight=700, fill="#ffffff"),
        text(164, 534, "8 min read · 12 June 2024", 20, fill="#cbd5e1"),
        text(1120, 540, "spv.dev", 28, weight=700, align="right", fill="#ffffff"),
    ]
    assets = {"photo": {"type": "image", "src": photo}, "avatar": {"type": "image", "src": avatar}}
    return document("Blog social card", [page(1200, 630, layers, "#0f172a", id="og")], assets)


BLENDS = ["normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn",
          "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color", "luminosity"]


def blend_modes():
    """All sixteen blend modes as swatches over a rainbow; each swatch is a blended group."""
    rainbow = linear([0, 0], [1024, 0], [0, "#ff0000"], [0.17, "#ffff00"], [0.33, "#00ff00"], [0.5, "#00ffff"],
                     [0.67, "#0000ff"], [0.83, "#ff00ff"], [1, "#ff0000"])
    layers = [
        rect(0, 0, 1024, 1024, fill=linear([0, 0], [0, 1024], [0, "#ffffffcc"], [0.5, "#ffffff00"],
                                           [0.5, "#00000000"], [1, "#000000cc"]), name="Light and shade"),
    ]
    for i, mode in enumerate(BLENDS):
        ox, oy = (i % 4) * 256, (i // 4) * 256
        swatch = group([
            rect(ox + 44, oy + 24, 168, 168, radius=28,
                 fill=linear([ox + 44, oy + 24], [ox + 212, oy + 192], [0, "#1e3a8a"], [0.5, "#f43f5e"], [1, "#fde047"])),
            ellipse(ox + 128, oy + 108, 40, fill="#ffffff", opacity=0.9),
        ], name=mode, blend=mode)
        layers.append(swatch)
        layers.append(rect(ox + 44, oy + 204, 168, 34, radius=17, fill="#ffffffd9"))
        layers.append(text(ox + 44, oy + 210, mode, 18, align="center", maxWidth=168, fill="#111827"))
    return document("Blend modes", [page(1024, 1024, layers, rainbow, id="blend-modes")])


def strokes():
    """A stroke specimen sheet: joins, caps, miter limits and dash patterns."""
    ink, guide = "#1e293b", "#f97316"
    layers = [text(60, 24, "Stroke specimen", 36, weight=700, fill=ink)]
    for i, join in enumerate(["miter", "round", "bevel"]):
        x = 120 + i * 380
        d = "M%d 250 L%d 110 L%d 250" % (x, x + 80, x + 160)
        layers += [
            path(d, stroke=stroke("#2563eb", 28, join=join)),
            path(d, stroke=stroke(guide, 2)),
            text(x, 268, "join: " + join, 20, align="center", maxWidth=160, fill=ink),
        ]
    for i, cap in enumerate(["butt", "round", "square"]):
        x = 100 + i * 380
        layers += [
            path("M%d 360 H%d" % (x, x + 200), stroke=stroke("#16a34a", 36, cap=cap)),
            path("M%d 330 V390 M%d 330 V390" % (x, x + 200), stroke=stroke("#ef4444", 2)),
            text(x, 400, "cap: " + cap, 20, align="center", maxWidth=200, fill=ink),
        ]
    chevrons = [("M%d 470 L%d 490 L%d 510", 10, "miterLimit 10"),
                ("M%d 470 L%d 490 L%d 510", None, "default limit 4"),
                ("M%d 450 L%d 490 L%d 530", 1.5, "miterLimit 1.5")]
    for i, (d, limit, label) in enumerate(chevrons):
        x = 120 + i * 380
        layers += [
            path(d % (x, x + 140, x), stroke=stroke("#7c3aed", 18, join="miter", miterLimit=limit)),
            text(x - 40, 548, label, 20, align="center", maxWidth=240, fill=ink),
        ]
    wave = "M840 680 C900 600 960 800 1020 700 S1120 640 1140 760"
    layers += [
        rect(60, 620, 300, 180, radius=24, stroke=stroke("#9333ea", 8, dash=[24, 12])),
        text(60, 812, "rect, dash [24, 12]", 18, align="center", maxWidth=300, fill=ink),
        ellipse(600, 710, 160, 90, stroke=stroke("#db2777", 8, cap="round", dash=[40, 12, 4, 12])),
        text(440, 812, "ellipse, round caps", 18, align="center", maxWidth=320, fill=ink),
        path(wave, stroke=stroke(linear([840, 0], [1140, 0], [0, "#06b6d4"], [0.5, "#3b82f6"], [1, "#a855f7"]), 8,
                                 dash=[30, 10, 6])),
        path("M840 800 H1140", stroke=stroke(ink, 10, cap="round", dash=[1, 17])),
        text(840, 822, "odd dash [30, 10, 6] · dots", 18, align="center", maxWidth=300, fill=ink),
    ]
    return document("Stroke specimen", [page(1200, 860, layers, "#fffdf7", id="strokes")])


def _petals(count, offset, length, width, fill, opacity):
    return [group([ellipse(length / 2, 0, length / 2, width, fill=fill, opacity=opacity)],
                  transform=rotate(offset + k * 360 / count)) for k in range(count)]


def transforms():
    """Nested rotations (a rosette), skew matrices (an isometric cube), a mirror, skewed stripes."""
    petal = linear([0, 0], [180, 0], [0, "#f472b6"], [1, "#818cf8"])
    inner = linear([0, 0], [180, 0], [0, "#fde68a"], [1, "#f97316"])
    rosette = group([
        group(_petals(12, 0, 180, 26, petal, 0.85), name="Outer petals"),
        group(_petals(12, 15, 180, 30, inner, 0.9), transform=scale(0.55), name="Inner petals"),
        ellipse(0, 0, 22, fill="#fef3c7", stroke=stroke("#f97316", 4)),
    ], transform=translate(260, 290), name="Rosette")
    s, c30, s30 = 150, math.cos(math.radians(30)), 0.5
    cube = group([
        group([rect(0, 0, s, s, fill=linear([0, 0], [s, s], [0, "#c7d2fe"], [1, "#a5b4fc"]))],
              transform=[r(c30), s30, r(-c30), s30, 0, -s], name="Top"),
        group([rect(0, 0, s, s, fill=linear([0, 0], [0, s], [0, "#6366f1"], [1, "#3730a3"])),
               text(14, 40, "SPV", 52, weight=700, fill="#ffffff")],
              transform=[r(c30), s30, 0, 1, r(-c30 * s), r(s30 * s - s)], name="Left"),
        group([rect(0, 0, s, s, fill=linear([0, 0], [0, s], [0, "#818cf8"], [1, "#4f46e5"]))],
              transform=[r(-c30), s30, 0, 1, r(c30 * s), r(s30 * s - s)], name="Right"),
    ], transform=translate(730, 300), name="Isometric cube")
    word = text(100, 600, "Reflections", 110, weight=700,
                fill=linear([100, 0], [800, 0], [0, "#22d3ee"], [1, "#a78bfa"]))
    mirror = dict(word)
    mirror["fill"] = linear([0, 600], [0, 740], [0, "#ffffff00"], [1, "#22d3ee"])
    stripes = [rect(100 + k * 70, 910, 44, 50, fill=["#f43f5e", "#f97316", "#facc15", "#22c55e", "#06b6d4", "#6366f1"][k % 6],
                    transform=[1, 0, -0.36, 1, 338, 0]) for k in range(10)]
    layers = [
        rosette,
        cube,
        word,
        group([mirror], transform=[1, 0, 0, -1, 0, 1480], opacity=0.35, name="Mirror"),
        group(stripes, name="Skewed stripes"),
        text(0, 0, "ROTATE · SKEW · SCALE · MIRROR", 22, weight=700, fill="#94a3b8",
             transform=[0, 1, -1, 0, 990, 170]),
    ]
    return document("Transforms", [page(1000, 1000, layers, "#0f172a", id="transforms")])


def photo_layout(photo, portrait, robot):
    """A magazine spread: clips (rounded rect, ellipse, path), images fill/contain/cover, a GIF."""
    fits = []
    for i, fit in enumerate(["fill", "contain", "cover"]):
        x = 620 + i * 190
        fits += [
            rect(x, 560, 170, 130, radius=8, fill="#e7e5e4"),
            group([image("portrait", x, 560, 170, 130, fit=fit)], clip=rect(x, 560, 170, 130, radius=8)),
            text(x, 700, "fit: " + fit, 18, align="center", maxWidth=170, fill="#57534e"),
        ]
    blob = ("M760 300 C840 280 920 320 920 400 C920 480 840 520 760 510 "
            "C700 500 660 460 670 400 C680 340 710 310 760 300 Z")
    layers = [
        group([
            image("photo", 40, 40, 520, 720, fit="cover"),
            rect(40, 560, 520, 200, fill=linear([0, 560], [0, 760], [0, "#00000000"], [1, "#000000b3"])),
            text(72, 680, "Lake Bled at dusk", 34, weight=700, fill="#ffffff"),
            text(72, 722, "Photograph: the spv sample generator", 16, fill="#e7e5e4"),
        ], clip=rect(40, 40, 520, 720, radius=32), name="Hero photo"),
        text(620, 44, "Islands of light", 52, weight=700, fill="#1c1917"),
        text(620, 120, "An evening on the water, where the mountains fold into the lake and the last "
             "light lingers on the ridges long after the sun has gone.", 20, maxWidth=540, lineHeight=1.5,
             fill="#44403c"),
        group([image("photo", 660, 280, 270, 240, fit="cover")], clip=path(blob), name="Blob crop"),
        path(blob, stroke=stroke("#1c1917", 3)),
        group([image("portrait", 990, 300, 160, 160, fit="cover")], clip=ellipse(1070, 380, 80), name="Round crop"),
        ellipse(1070, 380, 80, stroke=stroke("#f59e0b", 6)),
        image("robot", 1090, 480, 64, 64, fit="contain", name="Pixel robot (GIF)"),
    ] + fits
    assets = {
        "photo": {"type": "image", "src": photo},
        "portrait": {"type": "image", "src": portrait},
        "robot": {"type": "image", "src": robot},
    }
    return document("Travel magazine spread", [page(1200, 800, layers, "#fafaf9", id="spread")], assets)
