"""Sample designs, part one: poster, business card, app screen, chart, icon set."""

import math

from nodes import (document, ellipse, group, image, linear, page, path, r, radial, rect,
                   rotate, stroke, text, translate)


def poster():
    """A launch-party poster: gradient sky, radial sun, curved mountains, a rocket."""
    stars = []
    seed = 11
    for i in range(26):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        x = 30 + seed % 740
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        y = 300 + seed % 360
        stars.append(ellipse(x, y, 1.5 + (i % 3), fill="#ffffff"))
    rocket = group(
        [
            path("M-24 58 Q0 150 24 58 Z", fill=radial([0, 70], 80, [0, "#fff3b0"], [0.4, "#ffb703"], [1, "#fb5607"])),
            path("M-40 20 L-72 84 L-40 70 Z M40 20 L72 84 L40 70 Z", fill="#ff4d6d"),
            path("M0 -130 C44 -86 50 -20 40 60 L-40 60 C-50 -20 -44 -86 0 -130 Z",
                 fill=linear([-40, 0], [40, 0], [0, "#ffffff"], [1, "#cdd5e0"])),
            ellipse(0, -40, 16, fill="#3aa0ff", stroke=stroke("#1d2b53", 5)),
        ],
        name="Rocket",
        transform=rotate(35, 0, 0)[:4] + [560, 420],
    )
    layers = [
        group(stars, name="Stars", opacity=0.75),
        ellipse(400, 780, 260, fill=radial([400, 780], 260, [0, "#fff7d6"], [0.45, "#ffd36e"], [1, "#ff9a5a00"]),
                name="Glow", blend="screen"),
        ellipse(400, 780, 120, fill=radial([380, 750], 140, [0, "#fffbe6"], [1, "#ffc04d"]), name="Sun"),
        path("M0 880 L90 800 Q150 742 210 792 T330 760 L420 700 Q470 660 520 720 T650 742 L800 680 V1200 H0 Z",
             fill="#5a3a7a", name="Far mountains"),
        path("M0 960 C80 900 160 880 240 930 S400 1000 480 940 S640 860 800 920 V1200 H0 Z",
             fill=linear([0, 880], [0, 1200], [0, "#2d1b4e"], [1, "#120a24"]), name="Near hills"),
        path("M120 1000 Q300 760 520 500", stroke=stroke("#ffffffaa", 5, cap="round", dash=[2, 16]), name="Trail"),
        rocket,
        text(0, 70, "LAUNCH DAY", 92, weight=700, align="center", maxWidth=800, fill="#ffffff"),
        text(400, 190, "Version 2.0 ships on Friday\nJoin us on the roof at 6 pm", 34, align="center",
             lineHeight=1.5, fill="#ffe8d6"),
        rect(250, 1092, 300, 64, radius=32, fill="#ffffff", opacity=0.92),
        text(250, 1106, "FRI · 14 JUNE", 30, weight=700, align="center", maxWidth=300, fill="#7b4397"),
    ]
    bg = linear([0, 0], [0, 1200], [0, "#0b1d51"], [0.55, "#7b4397"], [0.8, "#ff7e5f"], [1, "#feb47b"])
    return document("Launch poster", [page(800, 1200, layers, bg, id="poster")])


LEAF = "M0 120 C0 40 60 0 120 0 C120 80 80 120 0 120 Z"


def _leaf(transform, fill):
    return group(
        [path(LEAF, fill=fill), path("M6 114 Q50 70 92 28", stroke=stroke("#1f2933", 7, cap="round"))],
        name="Logo", transform=transform,
    )


def business_card():
    """Two-sided business card: pages with ids, per-corner radii, right-aligned text."""
    warm = linear([0, 0], [120, 120], [0, "#ff6b6b"], [1, "#feca57"])
    front = [
        rect(0, 0, 24, 600, fill=linear([0, 0], [0, 600], [0, "#ff6b6b"], [1, "#feca57"])),
        _leaf(translate(90, 80), warm),
        text(90, 250, "Ada Lovelace", 64, weight=700, fill="#ffffff"),
        text(90, 336, "Principal Engineer · Analytical Engines", 28, fill="#9aa5b1"),
        path("M90 410 H960", stroke=stroke("#3e4c59", 2)),
        text(960, 436, "ada@engines.example\n+44 20 7946 0018\nengines.example", 26, align="right",
             lineHeight=1.4, fill="#e4e7eb"),
        text(90, 500, "LONDON", 22, weight=700, fill="#feca57"),
    ]
    back = [
        rect(225, 130, 600, 340, radius=[64, 0, 64, 0], fill="#1f2933"),
        _leaf([0.9, 0, 0, 0.9, 471, 170], warm),
        text(225, 310, "ENGINES", 60, weight=700, align="center", maxWidth=600, fill="#ffffff"),
        text(225, 392, "calculating since 1843", 24, align="center", maxWidth=600, fill="#feca57"),
    ]
    back_bg = radial([525, 300], 620, [0, "#feca57"], [0.6, "#ff9f43"], [1, "#ff6b6b"])
    return document("Business card", [
        page(1050, 600, front, "#1f2933", id="front", name="Front"),
        page(1050, 600, back, back_bg, id="back", name="Back"),
    ])


def _tab_icon(d, x, active):
    colour = "#4f46e5" if active else "#9ca3af"
    return path(d, transform=[1, 0, 0, 1, x, 800], stroke=stroke(colour, 2, join="round", cap="round"))


def app_screen(photo, avatar):
    """A fitness app's home screen: clipped avatar, gradient card, progress ring, list."""
    rows = [
        ("Morning run", "5.2 km · 28 min", "+412", "#dcfce7", "#16a34a", "M-8 6 L-2 -2 L3 3 L9 -6"),
        ("Cycling", "18.0 km · 52 min", "+780", "#e0e7ff", "#4f46e5", "M-11 4 a4.5 4.5 0 1 0 9 0 a4.5 4.5 0 1 0 -9 0 M2 4 a4.5 4.5 0 1 0 9 0 a4.5 4.5 0 1 0 -9 0 M-6.5 4 L-2 -4 H5 L6.5 4 M-2 -4 L1 4 H-6.5 M-3.5 -6.5 H-0.5"),
        ("Yoga", "45 min", "+120", "#fce7f3", "#db2777", "M0 -8 V8 M-8 0 H8"),
    ]
    items = []
    for i, (title, sub, value, bg, fg, icon) in enumerate(rows):
        items.append(group([
            rect(0, 0, 342, 72, radius=16, fill="#ffffff"),
            ellipse(36, 36, 22, fill=bg),
            path(icon, transform=translate(36, 36), stroke=stroke(fg, 2.5, join="round", cap="round")),
            text(72, 14, title, 16, weight=700, fill="#111827"),
            text(72, 38, sub, 13, fill="#6b7280"),
            text(326, 26, value, 15, weight=700, align="right", fill=fg),
        ], name=title, transform=translate(24, 398 + i * 84)))
    layers = [
        text(24, 14, "9:41", 15, weight=700, fill="#111827"),
        rect(334, 16, 26, 13, radius=4, stroke=stroke("#111827", 1.5)),
        rect(337, 19, 17, 7, radius=2, fill="#111827"),
        text(24, 58, "Good morning,", 17, fill="#6b7280"),
        text(24, 80, "Ada", 30, weight=700, fill="#111827"),
        group([image("avatar", 312, 64, 52, 52, fit="cover")], clip=ellipse(338, 90, 26), name="Avatar"),
        ellipse(338, 90, 29, stroke=stroke("#6366f1", 3)),
        rect(32, 160, 326, 176, radius=24, fill="#4f46e5", opacity=0.25, name="Shadow"),
        rect(24, 148, 342, 180, radius=24, fill=linear([24, 148], [366, 328], [0, "#6366f1"], [0.55, "#a855f7"], [1, "#ec4899"])),
        text(48, 170, "Weekly goal", 15, fill="#e0e7ff"),
        text(48, 192, "12.4 km", 40, weight=700, fill="#ffffff"),
        text(48, 252, "You are 3.6 km away from your goal. Keep the streak going!", 14, maxWidth=180,
             lineHeight=1.4, fill="#eef2ff"),
        ellipse(300, 238, 44, stroke=stroke("#ffffff40", 10)),
        ellipse(300, 238, 44, stroke=stroke("#ffffff", 10, cap="round", dash=[193, 400])),
        text(256, 226, "70%", 20, weight=700, align="center", maxWidth=88, fill="#ffffff"),
        text(24, 356, "Activity", 20, weight=700, fill="#111827"),
        group(items, name="Activity list"),
        group([
            image("photo", 24, 660, 342, 108, fit="cover"),
            rect(24, 660, 342, 108, fill=linear([0, 660], [0, 768], [0, "#00000000"], [1, "#000000aa"])),
            text(40, 730, "Trails near you", 18, weight=700, fill="#ffffff"),
        ], clip=rect(24, 660, 342, 108, radius=20), name="Explore card"),
        rect(0, 784, 390, 60, fill="#ffffff"),
        path("M0 784 H390", stroke=stroke("#e5e7eb", 1)),
        _tab_icon("M-9 2 L0 -7 L9 2 M-6 0 V10 H6 V0", 60, True),
        _tab_icon("M-2 5 A7 7 0 1 1 -1.99 5 Z M3 8 L9 14", 150, False),
        _tab_icon("M0 12 C-6 7 -10 4 -10 -1 C-10 -5 -7 -7 -4 -7 C-2 -7 -1 -6 0 -4 C1 -6 2 -7 4 -7 C7 -7 10 -5 10 -1 C10 4 6 7 0 12 Z", 240, False),
        _tab_icon("M0 1 A5 5 0 1 0 0 -9 A5 5 0 1 0 0 1 M-9 14 C-9 6 9 6 9 14", 330, False),
    ]
    assets = {"photo": {"type": "image", "src": photo}, "avatar": {"type": "image", "src": avatar}}
    return document("Fitness app — home", [page(390, 844, layers, "#f4f5fb", id="home")], assets)


def chart():
    """A quarterly revenue chart: dashed grid, gradient bars, a margin line with an area."""
    revenue = [12, 15, 14, 19, 22, 26, 24, 31]
    margin = [8, 9, 7, 11, 13, 15, 14, 18]
    base, unit = 680, 12.5
    layers = [
        text(80, 36, "Quarterly revenue", 40, weight=700, fill="#111827"),
        text(80, 92, "In millions of euros, 2023–2024", 20, fill="#6b7280"),
    ]
    for v in range(0, 41, 10):
        y = base - v * unit
        line = stroke("#374151", 2) if v == 0 else stroke("#d1d5db", 1.5, dash=[6, 6])
        layers.append(path("M160 %s H1120" % r(y), stroke=line))
        layers.append(text(140, r(y - 12), str(v), 18, align="right", fill="#6b7280"))
    for i, v in enumerate(revenue):
        x, top = 160 + i * 120 + 30, base - v * unit
        layers.append(rect(x, r(top), 60, r(v * unit), radius=[8, 8, 0, 0],
                           fill=linear([x, top], [x, base], [0, "#60a5fa"], [1, "#2563eb"])))
        layers.append(text(160 + i * 120, 696, "Q%d\n%d" % (i % 4 + 1, 2023 + i // 4), 16, align="center",
                           maxWidth=120, lineHeight=1.3, fill="#374151"))
    pts = [(220 + i * 120, base - v * unit) for i, v in enumerate(margin)]
    line = "M%s %s " % (pts[0][0], r(pts[0][1])) + " ".join("L%s %s" % (x, r(y)) for x, y in pts[1:])
    layers.append(path(line + " V680 H220 Z", fill=linear([0, 400], [0, 680], [0, "#f9731655"], [1, "#f9731600"]),
                       name="Margin area"))
    layers.append(path(line, stroke=stroke("#f97316", 4, join="round", cap="round"), name="Margin line"))
    for x, y in pts:
        layers.append(ellipse(x, r(y), 7, fill="#ffffff", stroke=stroke("#f97316", 3)))
    layers += [
        rect(820, 52, 24, 24, radius=6, fill="#2563eb"),
        text(854, 50, "Revenue", 20, fill="#374151"),
        path("M980 64 h32", stroke=stroke("#f97316", 4, cap="round")),
        ellipse(996, 64, 6, fill="#ffffff", stroke=stroke("#f97316", 3)),
        text(1024, 50, "Margin", 20, fill="#374151"),
        group([
            path("M0 0 H150 a12 12 0 0 1 12 12 V52 a12 12 0 0 1 -12 12 H86 L75 78 L64 64 H12 "
                 "a12 12 0 0 1 -12 -12 V12 A12 12 0 0 1 12 0 Z", fill="#111827"),
            text(0, 18, "+29% YoY", 24, weight=700, align="center", maxWidth=162, fill="#ffffff"),
        ], name="Callout", opacity=0.92, transform=translate(968, 186)),
    ]
    return document("Quarterly revenue", [page(1200, 800, layers, "#ffffff", id="revenue")])


def _gear():
    pts = []
    for i in range(16):
        a0 = i * 22.5 - 5.5
        rad = 10 if i % 2 == 0 else 7.6
        for da in (0, 11):
            a = math.radians(a0 + da)
            pts.append("%s %s" % (r(12 + rad * math.cos(a)), r(12 + rad * math.sin(a))))
    return "M" + " L".join(pts) + " Z M15.5 12 A3.5 3.5 0 1 0 8.5 12 A3.5 3.5 0 1 0 15.5 12 Z"


ICONS = [
    ("Home", "M3 10.5 L12 3 L21 10.5 V20 a1 1 0 0 1 -1 1 H15 v-6 h-6 v6 H4 a1 1 0 0 1 -1 -1 Z", "line", None),
    ("Favourite", "M12 21 C12 21 3 15 3 8.5 C3 5.5 5.5 3 8.5 3 c1.5 0 2.8 0.7 3.5 1.8 C12.7 3.7 14 3 15.5 3 "
     "S21 5.5 21 8.5 c0 6.5 -9 12.5 -9 12.5 z", "fill", "#ef4444"),
    ("Messages", "M4 12 Q4 4 12 4 T20 12 q0 8 -8 8 L4.5 21.5 L6.2 17.6 Q4 15.6 4 12 Z", "line", None),
    ("Clock", "M2 12 A10 10 0 1 0 22 12 A10 10 0 1 0 2 12 Z M12 6 V12 l4 2", "line", None),
    ("Settings", _gear(), "evenodd", "#0f172a"),
    ("Search", "M11 4 a7 7 0 1 1 0 14 a7 7 0 1 1 0 -14 z M16 16 L21 21", "line", None),
    ("Star", "M12 2.5 L17.6 19.6 L3 9 H21 L6.4 19.6 Z", "star", "#facc15"),
    ("Bookmark", "m6 3 h12 v18 l-6 -4.5 l-6 4.5 z", "line", None),
    ("Cloud", "M7 18 a5 5 0 0 1 -0.5 -9.97 A6 6 0 0 1 17.7 7.1 A4.5 4.5 0 0 1 17.5 18 Z", "line", None),
    ("Alerts", "M6 16 V11 c0 -3.3 2.7 -6 6 -6 s6 2.7 6 6 V16 l2 2 H4 Z M10 21 h4 M12 3 v2", "line", None),
    ("Camera", "M3 7 H7 L9 4 H15 L17 7 H21 V20 H3 Z M16 13 A4 4 0 1 0 8 13 A4 4 0 1 0 16 13 Z", "evenodd", "#0ea5e9"),
    ("Activity", "M2 12 q2.5 -6 5 0 t5 0 t5 0 t5 0", "gradient", None),
]


def icon_set():
    """Twelve 24 px icons drawn at 6x: every SVG path command, both fill rules."""
    layers = [text(0, 24, "Icon set · 24 px grid", 30, weight=700, align="center", maxWidth=960, fill="#0f172a")]
    for i, (label, d, style, colour) in enumerate(ICONS):
        ox, oy = (i % 4) * 240, 80 + (i // 4) * 240
        line = stroke("#0f172a", 1.75, join="round", cap="round")
        if style == "fill":
            icon = path(d, fill=colour)
        elif style == "evenodd":
            icon = path(d, fill=colour, fillRule="evenodd")
        elif style == "star":
            # A self-intersecting pentagram: nonzero fills its centre, evenodd would not.
            icon = path(d, fill=colour, fillRule="nonzero", stroke=stroke("#a16207", 1.25, join="miter"))
        elif style == "gradient":
            icon = path(d, stroke=stroke(linear([2, 0], [22, 0], [0, "#8b5cf6"], [0.5, "#ec4899"], [1, "#f59e0b"]),
                                         2, join="round", cap="round"))
        else:
            icon = path(d, stroke=line)
        icon["name"] = label
        layers.append(rect(ox + 20, oy + 10, 200, 220, radius=28, fill="#ffffff", stroke=stroke("#e2e8f0", 2)))
        layers.append(group([icon], transform=[6, 0, 0, 6, ox + 48, oy + 24]))
        layers.append(text(ox, oy + 180, label, 22, align="center", maxWidth=240, fill="#475569"))
    return document("Icon set", [page(960, 800, layers, "#f1f5f9", id="icons")])
