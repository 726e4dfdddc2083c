// The acceptor's trace view: polls /api/traces and draws every trace as a waterfall.
// Span fields are untrusted input, so they only ever reach the page through textContent,
// dataset and title; never through innerHTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const tracesEl = document.getElementById("traces");
  const emptyEl = document.getElementById("empty");
  const statusEl = document.getElementById("status");
  const processEl = document.getElementById("process-profile");
  // "trace/span" keys of the rows whose data is shown; kept across redraws.
  const opened = new Set();
  // Trace ids whose flame graph is shown; kept across redraws.
  const flamesShown = new Set();
  let lastText = null;
  let lastProfilesText = null;
  // AutoProfile profiles from /api/profiles: {processes: [...], traces: {traceId: [...]}}.
  let profiles = { processes: [], traces: {} };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function duration(ms) {
    if (!(ms > 0)) return "0 ms";
    if (ms < 1) return "<1 ms";
    if (ms < 100) return ms.toFixed(1).replace(/\.0$/, "") + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }

  function clock(epochMs) {
    const date = new Date(epochMs);
    if (isNaN(date.getTime())) return "?";
    const pad = (n, width) => String(n).padStart(width, "0");
    return pad(date.getHours(), 2) + ":" + pad(date.getMinutes(), 2) + ":" +
      pad(date.getSeconds(), 2) + "." + pad(date.getMilliseconds(), 3);
  }

  function percent(part, whole) {
    return Math.min(100, Math.max(0, (part / whole) * 100)) + "%";
  }

  function setStatus(ok, text) {
    statusEl.classList.toggle("down", !ok);
    statusEl.querySelector(".text").textContent = text;
  }

  function kv(list, key, value) {
    if (value === undefined || value === null || value === "") return;
    list.appendChild(el("dt", null, key));
    list.appendChild(el("dd", null, value));
  }

  function detail(trace, span) {
    const box = el("div", "detail");
    const facts = el("dl", "facts");
    kv(facts, "span", span.id);
    kv(facts, "parent", span.parent === null || span.parent === undefined
      ? null : span.parent + (span.orphan ? " (not received)" : ""));
    kv(facts, "trace", trace.id);
    kv(facts, "entity", span.entity);
    kv(facts, "start", clock(span.ts) + "  (+" + duration(span.offset) + ")");
    kv(facts, "duration", duration(span.duration));
    if (span.errors > 0) kv(facts, "errors", span.errors);
    box.appendChild(facts);
    box.appendChild(el("div", "data-label", "data"));
    box.appendChild(el("pre", "data-json", JSON.stringify(span.data, null, 2)));
    return box;
  }

  function toggle(row, key, trace, span) {
    const next = row.nextSibling;
    if (next && next.classList && next.classList.contains("detail")) {
      next.remove();
      opened.delete(key);
      row.setAttribute("aria-expanded", "false");
      return;
    }
    row.after(detail(trace, span));
    opened.add(key);
    row.setAttribute("aria-expanded", "true");
  }

  function spanRow(trace, span, scale) {
    const key = trace.id + "/" + span.id;
    const row = el("div", "span-row kind-" + span.kind + (span.errors > 0 ? " failed" : "") +
      (span.inferred ? " inferred" : ""));
    row.dataset.spanId = String(span.id);
    row.dataset.kind = String(span.kind);
    row.tabIndex = 0;
    row.setAttribute("role", "button");
    row.setAttribute("aria-expanded", "false");
    row.title = span.name + " · " + span.kind + " · " + duration(span.duration) +
      (span.trigger ? " · " + span.trigger : "") +
      (span.inferred ? "\ninferred from stack samples (AutoProfile), not measured" : "") +
      "\nclick to show its data";

    const name = el("div", "col-name");
    name.style.paddingLeft = (0.5 + span.depth * 1.1) + "rem";
    if (span.depth > 0) name.appendChild(el("span", "branch", "└"));
    name.appendChild(el("span", "span-name", span.name));
    if (span.orphan) {
      // Its parent is in another service or was never received: the trace continues here.
      const tag = el("span", "continued", "continued");
      tag.title = "parent span " + span.parent + " was not received";
      name.appendChild(tag);
    }
    if (span.errors > 0) {
      const marker = el("span", "error-marker", "!");
      marker.title = span.errors + " error" + (span.errors > 1 ? "s" : "");
      name.appendChild(marker);
    }
    row.appendChild(name);
    row.appendChild(el("div", "col-service", span.service));
    const kind = el("div", "col-kind");
    kind.appendChild(el("span", "kind-badge", span.kind));
    if (span.inferred) kind.appendChild(el("span", "inferred-badge", "inferred"));
    row.appendChild(kind);
    row.appendChild(el("div", "col-trigger", span.trigger));

    const track = el("div", "col-timeline track");
    const bar = el("div", "bar");
    bar.style.left = percent(span.offset, scale);
    bar.style.width = percent(span.duration, scale);
    track.appendChild(bar);
    row.appendChild(track);
    row.appendChild(el("div", "col-duration", duration(span.duration)));

    row.addEventListener("click", () => toggle(row, key, trace, span));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggle(row, key, trace, span);
      }
    });
    return { row, key };
  }

  function traceCard(trace) {
    const card = el("section", "trace" + (trace.errors > 0 ? " failed" : ""));
    card.dataset.traceId = String(trace.id);
    const root = trace.spans[0] || {};
    const scale = trace.duration > 0 ? trace.duration : 1;

    const head = el("header", "trace-head");
    head.appendChild(el("span", "trace-name", root.name));
    if (root.service) head.appendChild(el("span", "trace-service", root.service));
    if (root.trigger) head.appendChild(el("span", "trace-trigger", root.trigger));
    const meta = el("span", "trace-meta");
    meta.appendChild(el("span", null, clock(trace.start)));
    meta.appendChild(el("span", null, duration(trace.duration)));
    meta.appendChild(el("span", null, trace.spans.length + (trace.spans.length === 1 ? " span" : " spans")));
    meta.appendChild(el("span", "trace-id", "trace " + trace.id));
    head.appendChild(meta);
    if (trace.errors > 0) {
      head.appendChild(el("span", "error-badge", trace.errors + (trace.errors === 1 ? " error" : " errors")));
    }
    card.appendChild(head);

    const columns = el("div", "span-row columns");
    for (const [cls, text] of [["col-name", "span"], ["col-service", "service"], ["col-kind", "kind"],
      ["col-trigger", "trigger"]]) {
      columns.appendChild(el("div", cls, text));
    }
    const axis = el("div", "col-timeline axis");
    for (const fraction of [0, 0.5, 1]) {
      const tick = el("span", "tick", duration(fraction * trace.duration));
      tick.style.left = fraction * 100 + "%";
      axis.appendChild(tick);
    }
    columns.appendChild(axis);
    columns.appendChild(el("div", "col-duration", "duration"));
    card.appendChild(columns);

    for (const span of trace.spans) {
      const { row, key } = spanRow(trace, span, scale);
      card.appendChild(row);
      if (opened.has(key)) toggle(row, key, trace, span);
    }
    const traceProfiles = profiles.traces[trace.id];
    if (traceProfiles && traceProfiles.length) card.appendChild(traceFlame(trace.id, traceProfiles));
    return card;
  }

  // --- flame graphs (AutoProfile call trees: method_name, file_name, file_line, measurement,
  // num_samples, children). Drawn as an icicle: callers on top, callees below, widths by time.

  function mergeRoots(profileList) {
    // Several invocations of one trace (or one process) add up into one tree.
    const top = { children: new Map() };
    function add(into, sites) {
      for (const site of sites || []) {
        const key = site.method_name + " (" + site.file_name + ":" + site.file_line + ")";
        let node = into.children.get(key);
        if (!node) {
          node = { site: site, measurement: 0, samples: 0, children: new Map() };
          into.children.set(key, node);
        }
        node.measurement += Number(site.measurement) || 0;
        node.samples += Number(site.num_samples) || 0;
        add(node, site.children);
      }
    }
    for (const profile of profileList) add(top, profile.roots);
    return top;
  }

  function flameGraph(profileList, unit) {
    const top = mergeRoots(profileList);
    let total = 0;
    for (const node of top.children.values()) total += node.measurement;
    const graph = el("div", "flame");
    if (!(total > 0)) {
      graph.appendChild(el("div", "flame-empty", "no samples yet"));
      return graph;
    }
    let depthMax = 0;
    function place(node, depth, offset) {
      const share = node.measurement / total;
      if (share < 0.002) return;  // narrower than a pixel or two
      depthMax = Math.max(depthMax, depth);
      const site = node.site;
      const box = el("div", "flame-node", site.method_name);
      box.style.left = (offset / total) * 100 + "%";
      box.style.width = share * 100 + "%";
      box.style.top = depth * 1.5 + "rem";
      box.dataset.method = String(site.method_name);
      box.dataset.measurement = String(node.measurement);
      box.title = site.method_name + "\n" + site.file_name + ":" + site.file_line + "\n" +
        (unit === "millisecond" ? duration(node.measurement) : node.measurement + " " + unit) +
        " · " + (share * 100).toFixed(1) + "% · " + node.samples +
        (node.samples === 1 ? " sample" : " samples");
      graph.appendChild(box);
      let childOffset = offset;
      for (const child of node.children.values()) {
        place(child, depth + 1, childOffset);
        childOffset += child.measurement;
      }
    }
    let offset = 0;
    for (const node of top.children.values()) {
      place(node, 0, offset);
      offset += node.measurement;
    }
    graph.style.height = (depthMax + 1) * 1.5 + "rem";
    return graph;
  }

  function flameSection(title, profileList, shown, onToggle) {
    const section = el("div", "flame-section");
    const button = el("button", "flame-toggle", (shown ? "▾ " : "▸ ") + title);
    button.type = "button";
    button.setAttribute("aria-expanded", shown ? "true" : "false");
    button.addEventListener("click", onToggle);
    section.appendChild(button);
    if (shown) {
      const unit = profileList[0].unit || "";
      const samples = profileList.reduce(
        (sum, p) => sum + (p.roots || []).reduce((s, r) => s + (Number(r.num_samples) || 0), 0), 0);
      section.appendChild(el("div", "flame-meta",
        profileList[0].category + " / " + profileList[0].type + " · " + samples +
        " samples · widths are " + (unit === "millisecond" ? "wall-clock time" : unit)));
      section.appendChild(flameGraph(profileList, unit));
    }
    return section;
  }

  function traceFlame(traceId, profileList) {
    const shown = flamesShown.has(traceId);
    const section = flameSection("flame graph of this trace", profileList, shown, (event) => {
      event.stopPropagation();
      if (flamesShown.has(traceId)) flamesShown.delete(traceId); else flamesShown.add(traceId);
      section.replaceWith(traceFlame(traceId, profileList));
    });
    section.classList.add("trace-flame");
    return section;
  }

  let processShown = false;
  function renderProcess() {
    const list = profiles.processes || [];
    if (!list.length) {
      processEl.replaceChildren();
      processEl.hidden = true;
      return;
    }
    processEl.hidden = false;
    const title = "process flame graph (AutoProfile" + (list.length > 1 ? ", " + list.length +
      " processes" : ", pid " + list[0].pid) + ")";
    processEl.replaceChildren(flameSection(title, list, processShown, () => {
      processShown = !processShown;
      renderProcess();
    }));
  }

  // Refused bundles never become traces: say how many and why, or a wrong key or endpoint
  // path looks like an empty view.
  function renderRefused(payload) {
    const refusedEl = document.getElementById("refused");
    const list = payload.refused || [];
    if (!list.length) {
      refusedEl.replaceChildren();
      refusedEl.hidden = true;
      return;
    }
    const title = document.createElement("h2");
    title.textContent = payload.refusedCount + (payload.refusedCount === 1 ? " request" :
      " requests") + " refused";
    const items = list.map((item) => {
      const li = document.createElement("li");
      li.textContent = item.count + " × HTTP " + item.status + ": " + item.reason +
        " (from Host " + item.host + ")";
      return li;
    });
    const ul = document.createElement("ul");
    ul.replaceChildren(...items);
    refusedEl.replaceChildren(title, ul);
    refusedEl.hidden = false;
  }

  function render(payload) {
    renderRefused(payload);
    const cards = payload.traces.map(traceCard);
    tracesEl.replaceChildren(...cards);
    emptyEl.hidden = cards.length > 0;
    let summary = payload.traceCount + (payload.traceCount === 1 ? " trace" : " traces") + " · " +
      payload.spanCount + (payload.spanCount === 1 ? " span" : " spans");
    if (payload.traceCount > payload.traces.length) {
      summary += " (newest " + payload.traces.length + " shown)";
    }
    if (payload.refusedCount) summary += " · " + payload.refusedCount + " refused";
    return summary;
  }

  // Bound to a network address the acceptor serves /api/* only with its key: open the page
  // as /?key=<key> and it is passed on.
  const pageKey = new URLSearchParams(window.location.search).get("key");
  const keyHeader = pageKey ? { "X-Instana-Key": pageKey } : {};

  async function fetchProfiles() {
    const response = await fetch("/api/profiles", { cache: "no-store", headers: keyHeader });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.text();
  }

  let summary = "";
  async function poll() {
    try {
      const response = await fetch("/api/traces", { cache: "no-store", headers: keyHeader });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const text = await response.text();
      const profilesText = await fetchProfiles();
      // Unchanged traces are not redrawn, so a selection or an open detail stays put.
      if (text !== lastText || profilesText !== lastProfilesText) {
        if (profilesText !== lastProfilesText) {
          profiles = JSON.parse(profilesText);
          lastProfilesText = profilesText;
          renderProcess();
        }
        summary = render(JSON.parse(text));
        lastText = text;
      }
      setStatus(true, "live · " + summary + " · updated " + clock(Date.now()).slice(0, 8));
    } catch (error) {
      setStatus(false, "acceptor unreachable (" + error.message + "), retrying…");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
