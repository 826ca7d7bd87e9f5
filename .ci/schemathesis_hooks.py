"""schemathesis hooks for `.ci/schemathesis.sh`: the rules JSON Schema cannot state.

The OpenAPI document states every rule of one value (types, ranges, lengths, patterns,
enums, required fields) and these hooks touch nothing of that. Some rules tie one value
to another or to the server's state, and the document can only describe them in words:

- `.glyph` documents: ids unique among the pages and among the nodes; an `image` node's
  `asset` declared in `assets` as an image; a `text` node's `font` naming no asset that
  is not a font; gradient stops in order of offset.
- a base64 `.glyph` file or a ZIP package must hold a document, which random bytes do not;
- an API key's `expiresAt` must lie in the future (and be a day its month has);
- a render job makes at most 256 images (pages x sizes x formats);
- a multipart field's name travels in a part header, which cannot hold control
  characters (RFC 9110 field values); the HTTP client sends them raw, making the body
  malformed, so such names are left out of valid cases.

A case schemathesis generates as valid ("positive") is brought within these rules before
it is sent, so that `positive_data_acceptance` checks the server against what is really
valid. Negative cases are sent as generated.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import zipfile

import schemathesis

# A 1x1 opaque PNG: the image every repaired `image` node draws.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8Dw"
    "HwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)
IMAGE_ASSET = "schemathesis-pixel"
MINIMAL = {
    "format": "glyph",
    "version": 1,
    "pages": [{"width": 8, "height": 8, "layers": [{"type": "rect", "x": 0, "y": 0,
                                                      "width": 4, "height": 4, "fill": "#f00"}]}],
}
MAX_JOB_OUTPUTS = 256


def _unique(ids: set[str], value: str) -> str:
    candidate, n = value, 0
    while candidate in ids:
        n += 1
        candidate = f"{value}~{n}"
    ids.add(candidate)
    return candidate


def _paint(paint) -> None:
    if isinstance(paint, dict) and isinstance(paint.get("stops"), list):
        stops = [s for s in paint["stops"] if isinstance(s, list) and len(s) == 2]
        if len(stops) == len(paint["stops"]) and all(isinstance(s[0], (int, float)) for s in stops):
            paint["stops"] = sorted(stops, key=lambda s: s[0])


def _node(node, doc: dict, node_ids: set[str]) -> None:
    if not isinstance(node, dict):
        return
    if isinstance(node.get("id"), str):
        node["id"] = _unique(node_ids, node["id"])
    _paint(node.get("fill"))
    if isinstance(node.get("stroke"), dict):
        _paint(node["stroke"].get("paint"))
    kind = node.get("type")
    assets = doc.get("assets") if isinstance(doc.get("assets"), dict) else {}
    if kind == "image" and "asset" in node:
        doc.setdefault("assets", {})
        if not isinstance(doc["assets"], dict):
            doc["assets"] = {}
        doc["assets"][IMAGE_ASSET] = {"type": "image", "src": PIXEL}
        node["asset"] = IMAGE_ASSET
    if kind == "text" and isinstance(node.get("font"), str) and node["font"] in assets:
        del node["font"]
    if kind == "group":
        for child in node.get("children") or []:
            _node(child, doc, node_ids)
        if isinstance(node.get("clip"), dict):
            _node(node["clip"], doc, node_ids)


def repair_document(doc) -> None:
    """Brings a schema-valid `.glyph` document within the rules across its values."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pages"), list):
        return
    page_ids: set[str] = set()
    node_ids: set[str] = set()
    for page in doc["pages"]:
        if not isinstance(page, dict):
            continue
        if isinstance(page.get("id"), str):
            page["id"] = _unique(page_ids, page["id"])
        _paint(page.get("background"))
        for node in page.get("layers") or []:
            _node(node, doc, node_ids)


def _package() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("document.json", json.dumps(MINIMAL))
    return out.getvalue()


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    path, method, body = case.operation.path, case.method.upper(), case.body
    if (path, method) in {("/api/v1/documents", "POST"), ("/api/v1/documents/{id}/content", "PUT")}:
        if isinstance(body, dict):
            repair_document(body)
        elif isinstance(body, (bytes, bytearray, str)):
            # A package (or any bytes): a real one.
            case.body = _package()
    elif (path, method) == ("/api/v1/thumbnails", "POST") and isinstance(body, dict):
        document = body.get("document")
        if isinstance(document, dict):
            repair_document(document)
        elif isinstance(document, str) and len(document) != 36:
            body["document"] = base64.b64encode(json.dumps(MINIMAL).encode()).decode()
    elif (path, method) == ("/api/v1/assets", "POST") and isinstance(body, dict):
        for name in [n for n in body if any(ord(c) < 0x20 or ord(c) == 0x7F for c in n)]:
            del body[name]
    elif (path, method) == ("/api/v1/api-keys", "POST") and isinstance(body, dict):
        expires = body.get("expiresAt")
        if isinstance(expires, str):
            try:
                at = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
                if at.tzinfo is None:
                    at = at.replace(tzinfo=datetime.timezone.utc)
                past = at <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
            except ValueError:
                # A day its month lacks (`02-30`): the pattern cannot say so, the format does.
                past = True
            if past:
                body["expiresAt"] = "2999-01-01T00:00:00Z"
    elif (path, method) == ("/api/v1/jobs/render", "POST") and isinstance(body, dict):
        pages = max(1, len(body.get("pages") or []))
        sizes = body.get("sizes") if isinstance(body.get("sizes"), list) else [256]
        formats = body.get("formats") if isinstance(body.get("formats"), list) else ["png"]
        # With no pages named, every page of the document: leave room for a few.
        budget = MAX_JOB_OUTPUTS // (pages if body.get("pages") else 8)
        while len(sizes) * len(formats) > budget and len(sizes) > 1:
            sizes.pop()
        while len(sizes) * len(formats) > budget and len(formats) > 1:
            formats.pop()
        if "sizes" in body:
            body["sizes"] = sizes
        if "formats" in body:
            body["formats"] = formats
    return case
