/* The transmission graph of a case: a small force layout on <svg>, no library. The API caps
   the nodes (highest risk first) and counts the rest, so this never has to draw an outbreak. */
(() => {
  "use strict";
  const svg = document.getElementById("graph");
  if (!svg) return;
  const NS = "http://www.w3.org/2000/svg";
  const T = JSON.parse(document.getElementById("graph-texts").textContent);
  const info = document.getElementById("graph-summary");
  const tip = document.getElementById("graph-tip");
  const W = 800, H = 560;
  const COLORS = ["#c62828", "#ef6c00", "#fbc02d"];
  const RADIUS = [11, 7, 5];
  const add = (name, attrs, parent) => {
    const node = document.createElementNS(NS, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    parent.appendChild(node);
    return node;
  };

  fetch(svg.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(draw)
    .catch(() => { info.textContent = T.failed; });

  function draw(data) {
    const levels = Object.entries(data.by_level || {}).map(([l, n]) => "F" + l + ": " + n).join(" · ");
    const shown = data.nodes.length - 1;
    if (!data.total_contacts) info.textContent = T.empty;
    else if (data.truncated) {
      info.textContent = T.shown.replace("{n}", shown).replace("{m}", data.total_contacts) + " (" + levels + ")";
    } else info.textContent = levels;

    const byId = new Map(), parent = new Map();
    data.edges.forEach((e) => parent.set(e.to, e.from));
    data.nodes.forEach((n, i) => {
      const a = i * 2.399963; // the golden angle spreads the start positions evenly
      const p = byId.get(parent.get(n.id));
      const ring = n.level === 0 ? 0 : p ? 25 : 80 + 60 * n.level;
      n.x = (p ? p.x : W / 2) + ring * Math.cos(a); n.y = (p ? p.y : H / 2) + ring * Math.sin(a);
      n.vx = 0; n.vy = 0;
      n.fixed = n.level === 0;
      byId.set(n.id, n);
    });
    const edges = data.edges.filter((e) => byId.has(e.from) && byId.has(e.to))
      .map((e) => ({ a: byId.get(e.from), b: byId.get(e.to), source: e.source }));
    const gEdges = add("g", { class: "edges" }, svg);
    const gNodes = add("g", { class: "nodes" }, svg);
    edges.forEach((e) => { e.el = add("line", { class: "edge " + e.source }, gEdges); });
    const labels = data.nodes.length <= 40;
    data.nodes.forEach((n) => {
      const lvl = Math.min(n.level, 2);
      n.el = add("g", { class: "node lvl" + n.level, tabindex: "0" }, gNodes);
      add("circle", { r: RADIUS[lvl], fill: COLORS[lvl] }, n.el);
      add("title", {}, n.el).textContent = describe(n);
      if (labels || n.level === 0) {
        add("text", { x: RADIUS[lvl] + 3, y: 4 }, n.el).textContent = n.label;
      }
      n.el.addEventListener("pointerenter", (ev) => show(n, ev));
      n.el.addEventListener("focus", () => show(n, null));
      n.el.addEventListener("pointerleave", hide);
      n.el.addEventListener("blur", hide);
      n.el.addEventListener("pointerdown", (ev) => grab(n, ev));
      n.el.addEventListener("dblclick", () => { n.fixed = n.level === 0; heat(0.3); }); // let go
    });

    // Fruchterman-Reingold: repulsion k²/d between all pairs, attraction d²/k along edges, a
    // pull towards the centre, moves capped by a temperature that cools down.
    let alpha = 1, running = false;
    const k = Math.min(70, Math.sqrt((W * H) / Math.max(data.nodes.length, 1)) * 0.6);
    let fit = true; // until the user moves a node, the view follows the layout
    function step() {
      const ns = data.nodes, m = ns.length;
      ns.forEach((n) => { n.vx = 0; n.vy = 0; });
      for (let i = 0; i < m; i++) {
        const p = ns[i];
        for (let j = i + 1; j < m; j++) {
          const q = ns[j];
          let dx = p.x - q.x, dy = p.y - q.y, d2 = dx * dx + dy * dy;
          if (d2 < 0.01) { dx = Math.random() - 0.5; dy = Math.random() - 0.5; d2 = 0.5; }
          const f = (k * k) / d2;
          p.vx += dx * f; p.vy += dy * f; q.vx -= dx * f; q.vy -= dy * f;
        }
      }
      edges.forEach((e) => {
        const dx = e.b.x - e.a.x, dy = e.b.y - e.a.y;
        const f = Math.sqrt(dx * dx + dy * dy) / k;
        e.a.vx += dx * f; e.a.vy += dy * f; e.b.vx -= dx * f; e.b.vy -= dy * f;
      });
      const t = 40 * alpha + 0.5;
      ns.forEach((n) => {
        if (n.fixed) return;
        n.vx += (W / 2 - n.x) * 0.02 * k / 10; n.vy += (H / 2 - n.y) * 0.02 * k / 10;
        const v = Math.hypot(n.vx, n.vy) || 1, s = Math.min(v, t) / v;
        n.x += n.vx * s; n.y += n.vy * s;
      });
    }
    function paint() {
      edges.forEach((e) => {
        e.el.setAttribute("x1", e.a.x.toFixed(1)); e.el.setAttribute("y1", e.a.y.toFixed(1));
        e.el.setAttribute("x2", e.b.x.toFixed(1)); e.el.setAttribute("y2", e.b.y.toFixed(1));
      });
      data.nodes.forEach((n) => n.el.setAttribute("transform", "translate(" + n.x.toFixed(1) + "," + n.y.toFixed(1) + ")"));
      if (!fit) return;
      // Fit the view to the drawing (nothing is pushed against the frame).
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      data.nodes.forEach((n) => {
        x0 = Math.min(x0, n.x); y0 = Math.min(y0, n.y); x1 = Math.max(x1, n.x); y1 = Math.max(y1, n.y);
      });
      const w = Math.max(x1 - x0, 200) + 60, h = Math.max(y1 - y0, 140) + 60;
      svg.setAttribute("viewBox", [((x0 + x1) - w) / 2, ((y0 + y1) - h) / 2, w, h].map((v) => v.toFixed(0)).join(" "));
    }
    function frame() {
      step(); paint();
      alpha *= 0.97;
      if (alpha > 0.02) requestAnimationFrame(frame); else running = false;
    }
    function heat(a) {
      alpha = Math.max(alpha, a);
      if (!running) { running = true; requestAnimationFrame(frame); }
    }
    paint(); heat(1);

    function point(ev) {
      const p = svg.createSVGPoint();
      p.x = ev.clientX; p.y = ev.clientY;
      return p.matrixTransform(svg.getScreenCTM().inverse());
    }
    function grab(n, ev) {
      ev.preventDefault();
      n.fixed = true; fit = false; n.el.classList.add("dragging");
      svg.setPointerCapture(ev.pointerId);
      const move = (e) => {
        const p = point(e);
        n.x = p.x; n.y = p.y;
        heat(0.3); paint(); show(n, e);
      };
      const drop = () => {
        n.el.classList.remove("dragging"); // stays where it was dropped
        svg.removeEventListener("pointermove", move);
        svg.removeEventListener("pointerup", drop);
        svg.removeEventListener("pointercancel", drop);
        hide(); heat(0.2);
      };
      svg.addEventListener("pointermove", move);
      svg.addEventListener("pointerup", drop);
      svg.addEventListener("pointercancel", drop);
    }
  }

  function describe(n) {
    if (n.level === 0) return n.label + " — F0";
    return n.label + " — F" + n.level + "\n" + T.risk + ": " + Number(n.risk).toFixed(2) +
      "\n" + T.status + ": " + (T.statuses[n.status] || n.status);
  }
  function show(n, ev) {
    tip.textContent = describe(n);
    tip.hidden = false;
    const box = svg.getBoundingClientRect();
    const r = n.el.getBoundingClientRect();
    const x = ev ? ev.clientX : r.right, y = ev ? ev.clientY : r.top;
    tip.style.left = Math.min(x - box.left + 12, box.width - 180) + "px";
    tip.style.top = y - box.top + 12 + "px";
  }
  function hide() { tip.hidden = true; }
})();
