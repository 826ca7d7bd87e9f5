"""Sample designs, part three: typography, sticker sheet, editor wireframe, brand kit."""

import math

from nodes import (document, ellipse, group, image, linear, page, path, r, radial, rect,
                   rotate, stroke, text, translate)


def typography():
    """A type specimen: sizes, weights, wrapping, alignment, line heights, a watermark."""
    layers = [
        text(600, 380, "DRAFT", 200, weight=700, fill="#ef4444", opacity=0.08, align="center",
             transform=rotate(-20, 600, 500), name="Watermark"),
        text(60, 30, "Aa", 220, weight=700, fill=linear([60, 0], [360, 0], [0, "#0ea5e9"], [1, "#6366f1"])),
        text(420, 40, "DejaVu Sans", 48, weight=700, fill="#0f172a"),
        text(420, 106, "Book 400 · Bold 700 · the family “sans”", 22, font="sans", fill="#64748b"),
        text(420, 160, "ABCDEFGHIJKLMNOPQRSTUVWXYZ\nabcdefghijklmnopqrstuvwxyz\n0123456789 !?&@#% (ÆØÅ éüß)",
             24, lineHeight=1.4, fill="#334155"),
    ]
    y = 310
    for size in [12, 16, 20, 28, 36, 48]:
        layers.append(text(100, y + size * 0.35, str(size), 14, align="right", fill="#94a3b8"))
        layers.append(text(120, y, "Sphinx of black quartz, judge my vow", size, fill="#0f172a"))
        y += r(size * 1.3 + 10)
    para = "Design is not just what it looks like and feels like. Design is how it works."
    for i, (align, lh) in enumerate([("left", 1.2), ("center", 1.5), ("right", 1.8)]):
        x = 60 + i * 370
        layers.append(text(x, 640, "%s · lineHeight %s" % (align, lh), 18, weight=700, align=align,
                           maxWidth=340, fill="#0ea5e9"))
        layers.append(rect(x, 672, 340, 112, fill="#f1f5f9", radius=6))
        layers.append(text(x, 676, para, 20, align=align, maxWidth=340, lineHeight=lh, fill="#1e293b"))
    for i, weight in enumerate([300, 400, 700, 900]):
        layers.append(text(60 + i * 280, 850, "Weight %d" % weight, 34, weight=weight, fill="#0f172a"))
    layers.append(text(60, 910, "Weights pick the nearest bundled face: 300 → Book, 900 → Bold.", 18,
                       fill="#64748b"))
    return document("Type specimen", [page(1200, 960, layers, "#ffffff", id="specimen")])


def _burst(cx, cy, points, outer, inner):
    pts = []
    for i in range(points * 2):
        rad = outer if i % 2 == 0 else inner
        a = math.pi * i / points
        pts.append("%s %s" % (r(cx + rad * math.cos(a)), r(cy + rad * math.sin(a))))
    return "M" + " L".join(pts) + " Z"


def sticker_sheet(robot):
    """Die-cut stickers on a transparent page: shadows with alpha, short hex colours, a GIF."""
    bubble = ("M60 80 H340 a30 30 0 0 1 30 30 V230 a30 30 0 0 1 -30 30 H160 l-50 50 v-50 H60 "
              "a30 30 0 0 1 -30 -30 V110 a30 30 0 0 1 30 -30 Z")
    burst = _burst(590, 190, 14, 150, 118)
    rainbow = [path("M420 640 A170 170 0 0 1 760 640 Z", fill="#fff", stroke=stroke("#fff", 20, join="round"))]
    for i, colour in enumerate(["#f00", "#f80", "#ff0", "#0c0", "#06f", "#80f"]):
        rad = 150 - i * 18
        rainbow.append(path("M%d 640 A%d %d 0 0 1 %d 640" % (590 - rad, rad, rad, 590 + rad),
                            stroke=stroke(colour, 18)))
    rainbow += [ellipse(445, 640, 44, 26, fill="#fff"), ellipse(735, 640, 44, 26, fill="#fff")]
    layers = [
        path(bubble, fill="#0004", transform=translate(6, 10), name="Bubble shadow"),
        path(bubble, fill="#38bdf8", stroke=stroke("#fff", 14, join="round"), name="Bubble"),
        text(30, 136, "Hello!", 52, weight=700, align="center", maxWidth=340, fill="#fff"),
        group([
            path(burst, fill="#0003", transform=translate(5, 8)),
            path(burst, fill=radial([590, 190], 150, [0, "#fef08a"], [0.7, "#facc15"], [1, "#f59e0b"]),
                 stroke=stroke("#fff", 10, join="round")),
            text(440, 160, "NEW!", 52, weight=700, align="center", maxWidth=300, fill="#7c2d12"),
        ], transform=rotate(12, 590, 190), name="Badge"),
        ellipse(206, 568, 130, fill="#0003", name="Smiley shadow"),
        ellipse(200, 560, 130, fill=radial([170, 520], 160, [0, "#fef08a"], [1, "#facc15"]),
                stroke=stroke("#fff", 12)),
        ellipse(155, 520, 14, 22, fill="#422006"),
        ellipse(245, 520, 14, 22, fill="#422006"),
        ellipse(130, 590, 22, 14, fill="#fb7185", opacity=0.5),
        ellipse(270, 590, 22, 14, fill="#fb7185", opacity=0.5),
        path("M130 595 A80 80 0 0 0 270 595", stroke=stroke("#422006", 12, cap="round")),
        group(rainbow, name="Rainbow", transform=translate(0, 60)),
        rect(346, 346, 108, 108, radius=24, fill="#fffe", stroke=stroke("#cbd5e1", 3)),
        image("robot", 350, 350, 100, 100, fit="contain"),
    ]
    return document("Sticker sheet", [page(800, 800, layers, id="stickers", name="Transparent sheet")],
                    {"robot": {"type": "image", "src": robot}})


def _placeholder(x, y, w, h):
    return group([
        rect(x, y, w, h, radius=12, fill="#f3f4f6", stroke=stroke("#9ca3af", 2)),
        path("M%d %d L%d %d M%d %d L%d %d" % (x, y, x + w, y + h, x + w, y, x, y + h),
             stroke=stroke("#d1d5db", 2)),
    ], clip=rect(x, y, w, h, radius=12), name="Image placeholder")


def wireframe(logo):
    """A landing-page wireframe as an editor saves it: unknown fields everywhere, a hidden layer."""
    cards = []
    for i, (title, colour) in enumerate([("Fast", "#6366f1"), ("Faithful", "#10b981"), ("Portable", "#f59e0b")]):
        x = 120 + i * 416
        bars = [rect(x + 32, 790 + k * 26, [300, 280, 180][k], 12, radius=6, fill="#e5e7eb") for k in range(3)]
        cards.append(group([
            rect(x, 640, 368, 260, radius=16, fill="#ffffff", stroke=stroke("#d1d5db", 2, **{"x-align": "inside"})),
            ellipse(x + 64, 704, 32, fill=colour, opacity=0.15),
            ellipse(x + 64, 704, 12, fill=colour),
            text(x + 32, 748, title, 26, weight=700, fill="#111827"),
        ] + bars, name="Feature card", constraints={"horizontal": "scale", "vertical": "top"}))
    hero_fill = linear([0, 0], [0, 540], [0, "#eef2ff"], [1, "#ffffff"])
    hero_fill["x-angle"] = 90
    layers = [
        rect(0, 80, 1440, 500, fill=hero_fill, name="Hero background"),
        group([
            rect(0, 0, 1440, 80, fill="#ffffff", exportSettings=[{"format": "png", "scale": 2}]),
            path("M0 80 H1440", stroke=stroke("#e5e7eb", 1)),
            image("logo", 120, 24, 32, 32, fit="contain"),
            text(164, 26, "Glyph", 24, weight=700, fill="#111827"),
            text(1000, 30, "Product    Pricing    Docs", 18, align="right", fill="#4b5563"),
            rect(1120, 20, 200, 40, radius=20, fill="#4f46e5"),
            text(1120, 30, "Get started", 17, weight=700, align="center", maxWidth=200, fill="#ffffff"),
        ], name="Navigation", locked=True, constraints={"horizontal": "stretch", "vertical": "top"}),
        text(120, 160, "Design documents that render everywhere", 56, weight=700, maxWidth=640,
             lineHeight=1.1, fill="#111827", id="headline"),
        text(120, 372, "One open format, one renderer: thumbnails on the server, previews in the "
             "browser, the same pixels in every place.", 20, maxWidth=560, lineHeight=1.5, fill="#4b5563"),
        rect(120, 490, 180, 52, radius=26, fill="#4f46e5", id="cta"),
        text(120, 504, "Try it free", 19, weight=700, align="center", maxWidth=180, fill="#ffffff"),
        rect(320, 490, 180, 52, radius=26, stroke=stroke("#4f46e5", 2)),
        text(320, 504, "Read the docs", 19, weight=700, align="center", maxWidth=180, fill="#4f46e5"),
        _placeholder(800, 150, 520, 400),
        group(cards, name="Features"),
        rect(0, 960, 1440, 64, fill="#111827", name="Footer"),
        text(120, 982, "© 2024 Glyph · Wireframe v3", 16, fill="#9ca3af"),
        group([
            rect(760, 480, 300, 90, radius=8, fill="#fef08a"),
            text(776, 494, "Sam: make the CTA bigger?", 18, fill="#854d0e"),
            path("M740 520 L600 516", stroke=stroke("#ef4444", 4, cap="round")),
        ], visible=False, name="Review notes", locked=False),
    ]
    assets = {"logo": {"type": "image", "src": logo, "x-credit": "Brand team", "x-original-name": "logo@2x.png"}}
    pg = page(1440, 1024, layers, "#ffffff", id="landing", name="Landing — desktop",
              guides={"columns": 12, "gutter": 24, "margin": 120}, **{"x-prototype": {"start": True}})
    return document("Landing page wireframe", [pg], assets,
                    editor={"app": "Glyph Studio", "version": "4.1.0", "document": "d6b1c0de"},
                    **{"x-comments": [{"author": "sam", "text": "Make the CTA bigger?", "at": [720, 520]}]})


INK, TEAL = "#1f2937", "#0f766e"


def brand_kit(photo_sha, font_sha):
    """The brand-kit package: a font asset and an image asset, each by path and by sha256."""
    mark = group([
        ellipse(60, 60, 60, fill=linear([0, 0], [120, 120], [0, "#14b8a6"], [1, TEAL])),
        path("M60 14 L100 84 H20 Z M60 40 L80 74 H40 Z", fill="#fdf6ec", fillRule="evenodd"),
    ], name="Mark")
    logo_page = [
        rect(150, 230, 900, 340, radius=12, stroke=stroke("#0f766e66", 2, dash=[10, 8]), name="Clear space"),
        group([mark], transform=[1.5, 0, 0, 1.5, 210, 310]),
        text(420, 310, "Tessellate", 130, font="tuffy", fill=TEAL),
        text(424, 500, "Brand kit 2024 · logo, colour, type and imagery", 24, fill="#6b7280"),
    ]
    palette = [text(80, 60, "Colour palette", 64, font="tuffy-file", fill=INK)]
    for i, (name, hex_) in enumerate([("Deep teal", TEAL), ("Lagoon", "#14b8a6"), ("Amber", "#f59e0b"),
                                      ("Sand", "#fdf6ec"), ("Ink", INK)]):
        x = 80 + i * 214
        palette += [
            rect(x, 180, 190, 420, radius=[95, 95, 16, 16], fill=hex_, stroke=stroke("#e5e7eb", 2)),
            text(x, 620, name, 34, font="tuffy", fill=INK),
            text(x, 670, hex_.upper(), 20, fill="#6b7280"),
        ]
    imagery = [
        text(80, 60, "Imagery", 64, font="tuffy", fill="#fdf6ec"),
        group([image("photo", 80, 170, 620, 540, fit="cover")], clip=rect(80, 170, 620, 540, radius=24)),
        rect(740, 170, 380, 300, radius=24, fill="#111827"),
        image("photo-by-hash", 760, 190, 340, 260, fit="contain"),
        text(740, 500, "Warm light, open water, quiet horizons. Crop to the subject; never stretch.",
             22, maxWidth=380, lineHeight=1.5, fill="#e5e7eb"),
        text(740, 640, "photo: by path · photo-by-hash: by sha256", 16, maxWidth=380, fill="#9ca3af"),
    ]
    assets = {
        "photo": {"type": "image", "src": "assets/photo.png"},
        "photo-by-hash": {"type": "image", "src": "sha256:" + photo_sha},
        "tuffy": {"type": "font", "src": "sha256:" + font_sha},
        "tuffy-file": {"type": "font", "src": "assets/fonts/Tuffy.ttf"},
    }
    return document("Tessellate brand kit", [
        page(1200, 800, logo_page, "#fdf6ec", id="logo", name="Logo"),
        page(1200, 800, palette, "#ffffff", id="palette", name="Palette"),
        page(1200, 800, imagery, INK, id="imagery", name="Imagery"),
    ], assets)
