// The live editing page: one WebSocket (../shared/live-protocol.md), the document kept as
// the server orders it, our unacknowledged values kept on top until ack or reject.
"use strict";

const params = new URLSearchParams(location.search);
const docId = params.get("doc");
const token = params.get("token");
// The API is mounted next to this page: /spv by default (?api= to change it).
const api = params.get("api") || "/spv";
const svg = document.getElementById("canvas");
const status = document.getElementById("status");
const SVG = "http://www.w3.org/2000/svg";
const colour = "#" + Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0");

let doc = null;          // the server's document
let seq = 0;
let session = null;
let socket = null;
let pushes = 0;
const pending = new Map(); // push id -> ops not yet acknowledged
const peers = new Map();   // session -> {user, state}

function byId(list, id) {
  for (const node of list || []) {
    if (node.id === id) return node;
    const found = byId(node.children, id);
    if (found) return found;
  }
  return null;
}

// The protocol's operations, as the server applies them (enough for this page: set,
// insert, delete, move of nodes on the first page, and whole-document resets).
function findParentList(parent) {
  if (parent.page !== undefined) {
    const page = doc.pages.find((p) => p.id === parent.page);
    return page ? page.layers : null;
  }
  for (const page of doc.pages) {
    const node = byId(page.layers, parent.node);
    if (node) return node.children || null;
  }
  return null;
}
function removeNode(id) {
  const walk = (list) => {
    const i = list.findIndex((n) => n.id === id);
    if (i >= 0) return list.splice(i, 1)[0];
    for (const n of list) if (n.children) { const r = walk(n.children); if (r) return r; }
    return null;
  };
  for (const page of doc.pages) { const r = walk(page.layers); if (r) return r; }
  return null;
}
function insertInto(list, node, after) {
  const i = after == null ? 0 : list.findIndex((n) => n.id === after) + 1;
  list.splice(i, 0, node);
}
function apply(ops) {
  for (const op of ops) {
    if (op.op === "set") {
      let target = null;
      if (op.target === "document") target = doc;
      else if (op.target.page !== undefined) target = doc.pages.find((p) => p.id === op.target.page);
      else for (const page of doc.pages) target = target || byId(page.layers, op.target.node);
      if (!target) continue;
      if (op.value === null) delete target[op.key]; else target[op.key] = op.value;
    } else if (op.op === "insert") {
      const list = findParentList(op.parent);
      if (list) insertInto(list, op.node, op.after);
    } else if (op.op === "insertPage") {
      insertInto(doc.pages, op.page, op.after);
    } else if (op.op === "delete") {
      if (op.target.page !== undefined) doc.pages = doc.pages.filter((p) => p.id !== op.target.page);
      else removeNode(op.target.node);
    } else if (op.op === "move") {
      const node = removeNode(op.target.node);
      const list = node && findParentList(op.parent);
      if (list) insertInto(list, node, op.after);
    }
  }
}

// What is drawn: the server's document with our pending values on top.
function view() {
  const copy = JSON.parse(JSON.stringify(doc));
  const saved = doc;
  doc = copy;
  for (const ops of pending.values()) apply(ops);
  doc = saved;
  return copy;
}

function draw() {
  if (!doc) return;
  const page = view().pages[0];
  svg.setAttribute("width", page.width);
  svg.setAttribute("height", page.height);
  svg.setAttribute("viewBox", `0 0 ${page.width} ${page.height}`);
  svg.replaceChildren();
  if (page.background) {
    const bg = document.createElementNS(SVG, "rect");
    bg.setAttribute("width", page.width);
    bg.setAttribute("height", page.height);
    bg.setAttribute("fill", page.background);
    svg.appendChild(bg);
  }
  const paint = (p, fallback) => (typeof p === "string" ? p : fallback);
  const drawList = (list, parent) => {
    for (const node of list) {
      if (node.visible === false) continue;
      let el = null;
      if (node.type === "rect") {
        el = document.createElementNS(SVG, "rect");
        el.setAttribute("x", node.x || 0);
        el.setAttribute("y", node.y || 0);
        el.setAttribute("width", node.width || 0);
        el.setAttribute("height", node.height || 0);
        if (node.radius) el.setAttribute("rx", node.radius);
      } else if (node.type === "ellipse") {
        el = document.createElementNS(SVG, "ellipse");
        el.setAttribute("cx", node.cx || 0);
        el.setAttribute("cy", node.cy || 0);
        el.setAttribute("rx", node.rx || 0);
        el.setAttribute("ry", node.ry || 0);
      } else if (node.type === "text") {
        el = document.createElementNS(SVG, "text");
        el.setAttribute("x", node.x || 0);
        el.setAttribute("y", (node.y || 0) + (node.size || 16));
        el.setAttribute("font-size", node.size || 16);
        el.textContent = node.text || "";
      } else if (node.type === "group") {
        el = document.createElementNS(SVG, "g");
        drawList(node.children || [], el);
      }
      if (!el) continue;
      if (node.type !== "group") el.setAttribute("fill", paint(node.fill, "#000000"));
      if (node.opacity !== undefined) el.setAttribute("opacity", node.opacity);
      el.dataset.id = node.id;
      el.classList.add("shape");
      parent.appendChild(el);
    }
  };
  drawList(page.layers, svg);
  for (const [id, peer] of peers) {
    const s = peer.state;
    if (!s || !Array.isArray(s.cursor)) continue;
    const g = document.createElementNS(SVG, "g");
    g.classList.add("cursor");
    g.dataset.session = id;
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", s.cursor[0]);
    dot.setAttribute("cy", s.cursor[1]);
    dot.setAttribute("r", 5);
    dot.setAttribute("fill", s.colour || "#333");
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", s.cursor[0] + 8);
    label.setAttribute("y", s.cursor[1] + 4);
    label.classList.add("cursor-label");
    label.textContent = peer.user.name;
    g.append(dot, label);
    svg.appendChild(g);
  }
  status.textContent = `document ${docId} · seq ${seq} · ${peers.size} other session(s)`;
  status.dataset.seq = seq;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function push(ops) {
  const id = `p${++pushes}`;
  pending.set(id, ops);
  send({ type: "push", id, ops });
  draw();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${api}/api/v1/documents/${docId}/live`);
  socket.onopen = () => {
    send({ type: "connect", protocol: 1, lastSeq: doc ? seq : null, token });
  };
  socket.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === "welcome") {
      doc = m.document; seq = m.seq; session = m.session;
      peers.clear();
      for (const p of m.peers) peers.set(p.session, p);
    } else if (m.type === "catchup") {
      for (const c of m.changes) apply(c.ops);
      seq = m.seq; session = m.session;
      peers.clear();
      for (const p of m.peers) peers.set(p.session, p);
    } else if (m.type === "ack") {
      apply(pending.get(m.id) || []);
      pending.delete(m.id);
      seq = m.seq;
    } else if (m.type === "reject") {
      pending.delete(m.id);
      status.textContent = `rejected: ${m.code}: ${m.detail}`;
    } else if (m.type === "change") {
      apply(m.ops); seq = m.seq;
    } else if (m.type === "reset") {
      doc = m.document; seq = m.seq;
    } else if (m.type === "presence") {
      if (m.state === null) peers.delete(m.session); else peers.set(m.session, m);
    } else if (m.type === "error") {
      status.textContent = `error: ${m.code}: ${m.detail}`;
    }
    draw();
  };
  socket.onclose = (event) => {
    pending.clear();
    status.textContent = `closed (${event.code}); reconnecting…`;
    if ([4008, 1012, 1001, 1006].includes(event.code)) setTimeout(connect, 500);
  };
}

// Dragging: the shape follows the pointer locally; its new position is pushed (at most
// every 50 ms while moving, and once at the end).
let drag = null;
function point(event) {
  const box = svg.getBoundingClientRect();
  return [event.clientX - box.left, event.clientY - box.top];
}
svg.addEventListener("pointerdown", (event) => {
  const id = event.target.dataset && event.target.dataset.id;
  if (!id) return;
  const node = byId(view().pages[0].layers, id);
  if (!node) return;
  const [x, y] = point(event);
  const keys = node.type === "ellipse" ? ["cx", "cy"] : ["x", "y"];
  drag = { id, keys, start: [x, y], origin: [node[keys[0]] || 0, node[keys[1]] || 0], last: 0 };
  svg.setPointerCapture(event.pointerId);
});
let lastPresence = 0;
svg.addEventListener("pointermove", (event) => {
  const [x, y] = point(event);
  const now = performance.now();
  if (now - lastPresence > 40) {
    lastPresence = now;
    send({ type: "presence", state: { cursor: [Math.round(x), Math.round(y)], colour } });
  }
  if (!drag) return;
  const nx = Math.round(drag.origin[0] + x - drag.start[0]);
  const ny = Math.round(drag.origin[1] + y - drag.start[1]);
  drag.to = [nx, ny];
  if (now - drag.last > 50) {
    drag.last = now;
    moveTo(drag, nx, ny);
  }
});
svg.addEventListener("pointerup", () => {
  if (drag && drag.to) moveTo(drag, drag.to[0], drag.to[1]);
  drag = null;
});
function moveTo(d, x, y) {
  push([
    { op: "set", target: { node: d.id }, key: d.keys[0], value: x },
    { op: "set", target: { node: d.id }, key: d.keys[1], value: y },
  ]);
}

if (!docId) status.textContent = "open this page with ?doc=DOCUMENT_ID&token=TOKEN";
else connect();
