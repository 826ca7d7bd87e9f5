"""Writes the sample documents of examples/docs/.

Run from anywhere (needs only Python 3's standard library):

    python3 examples/docs/generate/make.py

The output is deterministic: the same script writes the same bytes, so regenerating a
sample that did not change leaves git clean.
"""

import hashlib
import os
import sys
import zipfile

sys.dont_write_bytecode = True  # keep __pycache__ out of the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import designs_a  # noqa: E402
import designs_b  # noqa: E402
import designs_c  # noqa: E402
import images  # noqa: E402
from nodes import data_url, dumps  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)


def write(name, data):
    target = os.path.join(DOCS, name)
    with open(target, "wb") as f:
        f.write(data)
    print("%-28s %7d bytes" % (name, len(data)))


def write_doc(name, doc):
    write(name, (dumps(doc) + "\n").encode("utf-8"))


def package(name, doc, files):
    """A .glyph package: document.json first, then the assets, with fixed timestamps."""
    target = os.path.join(DOCS, name)
    with zipfile.ZipFile(target, "w") as z:
        entries = [("document.json", (dumps(doc) + "\n").encode("utf-8"))] + files
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=(2024, 6, 14, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compresslevel=9)
    print("%-28s %7d bytes" % (name, os.path.getsize(target)))


def main():
    photo_png = images.landscape()
    photo = data_url("image/png", photo_png)
    portrait = data_url("image/png", images.portrait())
    logo = data_url("image/png", images.logo_mark())
    robot = data_url("image/gif", images.robot_gif())

    write_doc("poster.glyph", designs_a.poster())
    write_doc("business-card.glyph", designs_a.business_card())
    write_doc("app-screen.glyph", designs_a.app_screen(photo, portrait))
    write_doc("chart.glyph", designs_a.chart())
    write_doc("icon-set.glyph", designs_a.icon_set())
    write_doc("social-card.glyph", designs_b.social_card(photo, portrait))
    write_doc("blend-modes.glyph", designs_b.blend_modes())
    write_doc("strokes.glyph", designs_b.strokes())
    write_doc("transforms.glyph", designs_b.transforms())
    write_doc("photo-layout.glyph", designs_b.photo_layout(photo, portrait, robot))
    write_doc("typography.glyph", designs_c.typography())
    write_doc("sticker-sheet.glyph", designs_c.sticker_sheet(robot))
    write_doc("wireframe.glyph", designs_c.wireframe(logo))

    with open(os.path.join(HERE, "assets", "Tuffy.ttf"), "rb") as f:
        font = f.read()
    with open(os.path.join(HERE, "assets", "Tuffy-LICENSE.txt"), "rb") as f:
        font_licence = f.read()
    doc = designs_c.brand_kit(hashlib.sha256(photo_png).hexdigest(), hashlib.sha256(font).hexdigest())
    package("brand-kit.glyph", doc, [
        ("assets/photo.png", photo_png),
        ("assets/fonts/Tuffy.ttf", font),
        ("assets/fonts/LICENSE-Tuffy.txt", font_licence),
    ])


if __name__ == "__main__":
    main()
