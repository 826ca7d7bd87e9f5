"""Tiny constructors for .glyph nodes and paints, and a JSON writer that keeps the
documents readable (short arrays on one line)."""

import base64
import json
import math


def _node(kind, fields, extra):
    node = {"type": kind}
    node.update(fields)
    for key, value in extra.items():
        if value is not None:
            node[key] = value
    return node


def rect(x, y, width, height, **kw):
    return _node("rect", {"x": x, "y": y, "width": width, "height": height}, kw)


def ellipse(cx, cy, rx, ry=None, **kw):
    return _node("ellipse", {"cx": cx, "cy": cy, "rx": rx, "ry": rx if ry is None else ry}, kw)


def path(d, **kw):
    return _node("path", {"d": d}, kw)


def text(x, y, content, size, **kw):
    return _node("text", {"x": x, "y": y, "text": content, "size": size}, kw)


def image(asset, x, y, width, height, **kw):
    return _node("image", {"asset": asset, "x": x, "y": y, "width": width, "height": height}, kw)


def group(children, **kw):
    return _node("group", {"children": children}, kw)


def linear(start, end, *stops):
    return {"type": "linear", "from": list(start), "to": list(end), "stops": [list(s) for s in stops]}


def radial(center, radius, *stops):
    return {"type": "radial", "center": list(center), "radius": radius, "stops": [list(s) for s in stops]}


def stroke(paint, width=None, **kw):
    s = {"paint": paint}
    if width is not None:
        s["width"] = width
    for key, value in kw.items():
        if value is not None:
            s[key] = value
    return s


def r(v):
    """Rounds to 2 decimals and drops a trailing .0, for tidy JSON."""
    v = round(v, 2)
    return int(v) if v == int(v) else v


def rotate(deg, cx=0, cy=0):
    """SVG rotate(deg, cx, cy) as [a, b, c, d, e, f]."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [r(c), r(s), r(-s), r(c), r(cx - c * cx + s * cy), r(cy - s * cx - c * cy)]


def translate(x, y):
    return [1, 0, 0, 1, x, y]


def scale(sx, sy=None, x=0, y=0):
    sy = sx if sy is None else sy
    return [sx, 0, 0, sy, x, y]


def data_url(mime, data):
    return "data:%s;base64,%s" % (mime, base64.b64encode(data).decode("ascii"))


def page(width, height, layers, background=None, **kw):
    p = {}
    for key in ("id", "name"):
        if key in kw:
            p[key] = kw.pop(key)
    p.update({"width": width, "height": height})
    if background is not None:
        p["background"] = background
    p["layers"] = layers
    p.update(kw)
    return p


def document(title, pages, assets=None, **extra):
    doc = {"format": "glyph", "version": 1, "title": title}
    if assets:
        doc["assets"] = assets
    doc["pages"] = pages
    doc.update(extra)
    return doc


def _scalar(v):
    return not isinstance(v, (dict, list))


def _inline(v):
    """Whether a value is printed on one line: scalars, lists of scalars, and lists of
    short lists of scalars (gradient stops)."""
    if _scalar(v):
        return True
    if isinstance(v, list):
        return all(_scalar(x) or (isinstance(x, list) and all(map(_scalar, x))) for x in v)
    return False


def dumps(value, indent=0):
    pad, inner = "  " * indent, "  " * (indent + 1)
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if _inline(value) or len(flat) + len(inner) <= 120:
        return flat
    if isinstance(value, list):
        items = [inner + dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    items = [inner + json.dumps(k) + ": " + dumps(v, indent + 1) for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"
