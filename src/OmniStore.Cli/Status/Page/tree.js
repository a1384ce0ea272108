// The tree page (docs/tree.md, "The page"): redraws from /tree/events, one event a second.
// Everything from the tree (sites, names, errors) goes in with textContent or an SVG text node,
// never as markup: the page shows what a peer sent, it never runs it.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const params = new URLSearchParams(location.search);
  const name = params.get("name");
  const previous = new Map(); // node id -> { at, bytesIn, bytesOut }
  let updates = 0;

  if (name) document.getElementById("name").value = name;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
  }

  function rate(bps) { return bps === null ? "" : bytes(Math.round(bps)) + "/s"; }

  function flatten(node, parent, depth, out) {
    out.push({ node, parent, depth });
    for (const child of node.children || []) flatten(child, node, depth + 1, out);
    return out;
  }

  // Bytes a second over a node's parent link, between the last two reports whose counters differ:
  // a relay reports every few seconds while the page hears every second, so the time of a report is
  // when its node measured it (the event's time less the report's age).
  function rates(all, now) {
    const result = new Map();
    for (const { node } of all) {
      if (!node.link) continue;
      const at = now - (node.ageMs || 0);
      const last = previous.get(node.nodeId);
      if (!last) {
        previous.set(node.nodeId, { at, bytesIn: node.link.bytesIn, bytesOut: node.link.bytesOut, rate: null });
        result.set(node.nodeId, null);
      } else if (last.bytesIn === node.link.bytesIn && last.bytesOut === node.link.bytesOut) {
        result.set(node.nodeId, at - last.at > 3 * 5000 ? 0 : last.rate);
      } else {
        const seconds = Math.max(0.001, (at - last.at) / 1000);
        const r = Math.max(0, (node.link.bytesIn - last.bytesIn) + (node.link.bytesOut - last.bytesOut)) / seconds;
        previous.set(node.nodeId, { at, bytesIn: node.link.bytesIn, bytesOut: node.link.bytesOut, rate: r });
        result.set(node.nodeId, r);
      }
    }
    return result;
  }

  function drawGraph(tree, all, linkRates) {
    const graph = document.getElementById("graph");
    while (graph.firstChild) graph.removeChild(graph.firstChild);
    const width = Math.max(graph.clientWidth || 900, 300);
    const levels = [];
    for (const item of all) (levels[item.depth] = levels[item.depth] || []).push(item);
    const rowHeight = 110, boxW = 190, boxH = 44;
    graph.setAttribute("viewBox", "0 0 " + width + " " + Math.max(320, levels.length * rowHeight + 20));
    graph.style.height = Math.max(320, levels.length * rowHeight + 20) + "px";
    const pos = new Map();
    levels.forEach((items, depth) => {
      // Nodes of one site side by side: sorted by site, then id.
      items.sort((a, b) => (a.node.site < b.node.site ? -1 : a.node.site > b.node.site ? 1 : (a.node.nodeId < b.node.nodeId ? -1 : 1)));
      items.forEach((item, i) => {
        const x = (width / (items.length + 1)) * (i + 1);
        pos.set(item.node.nodeId, { x, y: 30 + depth * rowHeight + boxH / 2 });
      });
    });
    const links = svg("g", { class: "links" });
    for (const { node, parent } of all) {
      if (!parent) continue;
      const a = pos.get(parent.nodeId), b = pos.get(node.nodeId);
      links.appendChild(svg("line", { class: "link", x1: a.x, y1: a.y + boxH / 2, x2: b.x, y2: b.y - boxH / 2, "data-from": parent.nodeId, "data-to": node.nodeId }));
      const rtt = node.link && node.link.rttMs !== null && node.link.rttMs !== undefined ? node.link.rttMs.toFixed(2) + " ms" : "rtt ?";
      const label = rate(linkRates.get(node.nodeId) ?? null) + (rate(linkRates.get(node.nodeId) ?? null) ? ", " : "") + rtt;
      links.appendChild(svg("text", { class: "link-label", x: (a.x + b.x) / 2 + 6, y: (a.y + b.y) / 2 }, label));
    }
    graph.appendChild(links);
    // A dashed box around the nodes of one site on one level, when there are several.
    levels.forEach((items) => {
      const bySite = new Map();
      for (const item of items) (bySite.get(item.node.site) || bySite.set(item.node.site, []).get(item.node.site)).push(item);
      for (const [site, group] of bySite) {
        if (group.length < 2) continue;
        const xs = group.map((g) => pos.get(g.node.nodeId).x), y = pos.get(group[0].node.nodeId).y;
        graph.appendChild(svg("rect", { class: "site-box", x: Math.min(...xs) - boxW / 2 - 8, y: y - boxH / 2 - 16, width: Math.max(...xs) - Math.min(...xs) + boxW + 16, height: boxH + 24 }));
        graph.appendChild(svg("text", { class: "site-label", x: Math.min(...xs) - boxW / 2 - 4, y: y - boxH / 2 - 4 }, "site " + site));
      }
    });
    for (const { node } of all) {
      const p = pos.get(node.nodeId);
      let cls = "node " + node.role;
      if (node.ageMs > 3 * tree.reportIntervalMs || !node.reported) cls += " stale";
      if (node.holds === true) cls += " holds";
      const g = svg("g", { class: cls, "data-node-id": node.nodeId, "data-site": node.site, "data-role": node.role });
      g.appendChild(svg("rect", { x: p.x - boxW / 2, y: p.y - boxH / 2, width: boxW, height: boxH }));
      g.appendChild(svg("text", { x: p.x - boxW / 2 + 8, y: p.y - 4 }, node.site + " (" + node.role + ")"));
      const cache = node.cache.sizeBytes > 0 ? bytes(node.cache.usedBytes) + " / " + bytes(node.cache.sizeBytes) : bytes(node.cache.usedBytes);
      g.appendChild(svg("text", { x: p.x - boxW / 2 + 8, y: p.y + 13 }, node.nodeId.slice(0, 8) + "  " + cache));
      const title = svg("title", {}, node.nodeId);
      g.appendChild(title);
      graph.appendChild(g);
    }
  }

  function fill(fraction) {
    const outer = el("span", null, "fill");
    const inner = el("span");
    inner.style.width = Math.round(Math.min(1, Math.max(0, fraction)) * 100) + "%";
    outer.appendChild(inner);
    return outer;
  }

  function row(cells) {
    const tr = el("tr");
    for (const c of cells) {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else if (typeof c === "object" && c !== null) { const td = el("td", c.text, c.cls); if (c.node) td.insertBefore(c.node, td.firstChild); tr.appendChild(td); }
      else tr.appendChild(el("td", c));
    }
    return tr;
  }

  function drawTables(tree, all) {
    const nodes = document.querySelector("#nodes tbody");
    nodes.replaceChildren();
    for (const { node } of all) {
      const l = node.link;
      const used = node.cache.sizeBytes > 0 ? node.cache.usedBytes / node.cache.sizeBytes : 0;
      const tr = row([
        node.nodeId.slice(0, 8), node.site, node.role,
        l ? (l.up ? "up" : "DOWN") + " " + l.path : "",
        l && l.rttMs !== null ? { text: l.rttMs.toFixed(2) + " ms", cls: "num" } : "",
        l ? { text: bytes(l.bytesIn), cls: "num" } : "", l ? { text: bytes(l.bytesOut), cls: "num" } : "",
        { text: bytes(node.cache.usedBytes) + (node.cache.sizeBytes > 0 ? " / " + bytes(node.cache.sizeBytes) : ""), node: fill(used) },
        { text: node.cache.hitRatio === null ? "" : (node.cache.hitRatio * 100).toFixed(1) + "%", cls: "num" },
        { text: node.clients, cls: "num" }, { text: node.inFlight, cls: "num" },
        { text: node.reported ? (node.ageMs / 1000).toFixed(1) + " s" : "no report", cls: "num" },
      ]);
      tr.dataset.nodeId = node.nodeId;
      tr.dataset.bytesIn = l ? l.bytesIn : "";
      tr.dataset.bytesOut = l ? l.bytesOut : "";
      nodes.appendChild(tr);
    }

    const transfers = document.querySelector("#transfers tbody");
    transfers.replaceChildren();
    for (const { node } of all) {
      for (const t of node.transfers || []) {
        const bar = el("progress");
        bar.max = Math.max(1, t.totalBytes);
        bar.value = t.doneBytes;
        const tr = row([node.site, t.peer || "a client", t.name, bar, { text: bytes(t.doneBytes) + " / " + bytes(t.totalBytes), cls: "num" }]);
        tr.dataset.name = t.name;
        tr.dataset.done = t.doneBytes;
        tr.dataset.total = t.totalBytes;
        transfers.appendChild(tr);
      }
    }

    const errors = document.getElementById("errors");
    errors.replaceChildren();
    for (const { node } of all) {
      for (const e of node.errors || []) errors.appendChild(el("li", e.at + "  " + node.site + " " + node.nodeId.slice(0, 8) + ": " + e.text));
    }
    if (!errors.firstChild) errors.appendChild(el("li", "none"));

    const staging = document.getElementById("staging-result");
    staging.hidden = !tree.name;
    if (tree.name) {
      const holders = all.filter(({ node }) => node.holds === true).map(({ node }) => node.site + " (" + node.nodeId.slice(0, 8) + ")");
      const unknown = all.filter(({ node }) => node.holds === null || node.holds === undefined).length;
      document.getElementById("holders").textContent = "'" + tree.name + "' is held whole by " +
        (holders.length ? holders.join(", ") : "no node yet") + (unknown ? "; " + unknown + " not answered yet" : "");
    }
  }

  function render(tree) {
    const all = flatten(tree.root, null, 0, []);
    const linkRates = rates(all, Date.parse(tree.generatedAt) || Date.now());
    drawGraph(tree, all, linkRates);
    drawTables(tree, all);
    updates++;
    document.body.dataset.updates = String(updates);
    document.getElementById("state").textContent = "live, " + all.length + " nodes, updated " + new Date(tree.generatedAt).toLocaleTimeString();
  }

  const source = new EventSource("/tree/events" + (name ? "?name=" + encodeURIComponent(name) : ""));
  source.onmessage = (event) => {
    try { render(JSON.parse(event.data)); }
    catch (e) { document.getElementById("state").textContent = "cannot draw: " + e.message; }
  };
  source.onerror = () => { document.getElementById("state").textContent = "disconnected; retrying"; };
})();
