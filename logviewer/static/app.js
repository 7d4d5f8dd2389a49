// Copier log viewer: a virtualized, server-filtered view of the mirror log with a live tail.
//
// The list shows the newest event first. Rows come from two places: `live` (events pushed by the
// server since the view opened, ascending) and history pages fetched on demand from
// /api/v1/events?before=<anchor>&offset=<n>, where `anchor` is one past the newest seq at the time
// the view opened, so offsets stay put while live events arrive on top.
"use strict";

const ROW = 26;
const PAGE = 200;
const OVERSCAN = 6;
const FIELDS = ["source", "account", "venue", "symbol", "event", "status"];

const $ = (sel) => document.querySelector(sel);
const scroller = $("#scroller");
const spacer = $("#spacer");
const rowsEl = $("#rows");

let view = null;          // the open view (see openView)
let generation = 0;       // bumps on every view change; stale answers are dropped
let source = null;        // the EventSource of the live tail
let firstRowsMarked = false;
let selected = null;      // signal id shown in the timeline

// ---------------------------------------------------------------------------------------------
// URL <-> filters

function readFilters() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const name of FIELDS) out[name] = params.get(name) || "";
  out.q = params.get("q") || "";
  out.problems = params.get("problems") === "1";
  return {filters: out, signal: params.get("signal")};
}

function formFilters() {
  const out = {};
  for (const name of FIELDS) out[name] = $("#f-" + name).value.trim();
  out.q = $("#f-q").value.trim();
  out.problems = $("#f-problems").checked;
  return out;
}

function fillForm(filters) {
  for (const name of FIELDS) $("#f-" + name).value = filters[name];
  $("#f-q").value = filters.q;
  $("#f-problems").checked = filters.problems;
}

function query(filters) {
  const params = new URLSearchParams();
  for (const name of FIELDS) if (filters[name]) params.set(name, filters[name]);
  if (filters.q) params.set("q", filters.q);
  if (filters.problems) params.set("problems", "1");
  return params;
}

function writeUrl() {
  const params = query(view.filters);
  if (selected) params.set("signal", selected);
  const text = params.toString();
  const url = location.pathname + (text ? "?" + text : "");
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
}

// ---------------------------------------------------------------------------------------------
// server calls

async function getJson(path) {
  const response = await fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}});
  if (response.status === 401) {
    location.reload();  // the session ended: the server answers with the login form
    throw new Error("logged out");
  }
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

// ---------------------------------------------------------------------------------------------
// the view

function openView(filters) {
  const gen = ++generation;
  view = {
    gen, filters, key: query(filters).toString(),
    anchor: null, total: 0, pages: new Map(), inflight: new Set(), live: [], lastSeq: 0, unseen: 0,
  };
  rowsEl.dataset.state = "loading";
  if (source) { source.close(); source = null; }
  const params = query(filters);
  params.set("limit", String(PAGE));
  getJson("/api/v1/events?" + params).then((page) => {
    if (gen !== generation) return;
    view.anchor = page.head + 1;
    view.total = page.matched;
    view.lastSeq = page.head;
    view.pages.set(0, page.events);
    scroller.scrollTop = 0;
    render();
    rowsEl.dataset.matched = String(view.total);
    rowsEl.dataset.view = String(gen);
    rowsEl.dataset.key = view.key;
    rowsEl.dataset.state = "ready";
    if (!firstRowsMarked) { firstRowsMarked = true; performance.mark("copier:first-rows"); }
    connectLive(gen);
    refreshLatency();
  }).catch((err) => { if (gen === generation) showError(err); });
}

function showError(err) {
  $("#count").textContent = "Could not load events (" + err.message + ")";
  rowsEl.dataset.state = "error";
}

function rowCount() { return view ? view.live.length + view.total : 0; }

function rowAt(index) {
  const live = view.live;
  if (index < live.length) return live[live.length - 1 - index];
  const h = index - live.length;
  const page = view.pages.get(Math.floor(h / PAGE));
  if (!page) return undefined;
  const k = h % PAGE;
  return page[page.length - 1 - k];
}

function fetchPage(number) {
  if (view.pages.has(number) || view.inflight.has(number) || view.anchor === null) return;
  const gen = view.gen;
  view.inflight.add(number);
  const params = query(view.filters);
  params.set("before", String(view.anchor));
  params.set("offset", String(number * PAGE));
  params.set("limit", String(PAGE));
  getJson("/api/v1/events?" + params).then((page) => {
    if (gen !== generation) return;
    view.inflight.delete(number);
    view.pages.set(number, page.events);
    scheduleRender();
  }).catch(() => { if (gen === generation) view.inflight.delete(number); });
}

// ---------------------------------------------------------------------------------------------
// rendering (only the rows on screen exist in the DOM)

const pool = [];
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

function makeRow() {
  const el = document.createElement("div");
  el.className = "row";
  el.setAttribute("role", "listitem");
  const names = ["c-ts", "c-ev", "c-src", "c-acc", "c-ven", "c-sym", "c-side", "c-vol", "c-px", "c-st", "c-lat", "c-why"];
  for (const name of names) {
    const cell = document.createElement("span");
    cell.className = name;
    el.appendChild(cell);
  }
  el.children[1].appendChild(document.createElement("span"));
  rowsEl.appendChild(el);
  return el;
}

const EVENT_CLASS = {
  signal_accepted: "ok", order_filled: "ok", order_acked: "ok", position_linked: "ok", connector_up: "ok",
  position_closed: "ok", position_reduced: "ok", order_reconciled: "ok", position_unlinked: "info",
  daemon_started: "info",
  order_planned: "info", order_sent: "info", signal_duplicate: "warn", order_skipped: "warn",
  order_unknown: "warn", order_adopted: "warn", connector_reconnecting: "warn", signal_rejected: "bad",
  order_rejected: "bad", order_failed: "bad", connector_down: "bad", kill_switch: "kill",
};
const PROBLEM = /(_rejected|_skipped|_unknown|_failed|_down)$/;

function eventClass(name) {
  if (EVENT_CLASS[name]) return EVENT_CLASS[name];
  if (PROBLEM.test(name)) return name.endsWith("_skipped") || name.endsWith("_unknown") ? "warn" : "bad";
  return "";
}

function fmtUs(us) {
  if (us === null || us === undefined) return "";
  if (us < 1000) return us + " µs";
  if (us < 1e6) return (us / 1000).toFixed(us < 10000 ? 2 : 1) + " ms";
  return (us / 1e6).toFixed(2) + " s";
}

function fill(el, event, index) {
  const cells = el.children;
  el.dataset.index = String(index);
  if (!event) {
    el.className = "row pending";
    el.dataset.signal = "";
    el.dataset.seq = "";
    cells[0].textContent = "…";
    cells[1].firstChild.textContent = "";
    for (let i = 2; i < cells.length; i++) cells[i].textContent = "";
    return;
  }
  const problem = PROBLEM.test(event.event);
  el.className = "row" + (event.signal_id ? " sig" : "") + (problem ? " problem" : "") +
    (selected && event.signal_id === selected ? " sel" : "");
  el.dataset.signal = event.signal_id || "";
  el.dataset.seq = String(event.seq);
  const ts = event.ts || "";
  cells[0].textContent = ts.slice(11, 23);
  cells[0].title = ts;
  const badge = cells[1].firstChild;
  badge.className = "ev " + eventClass(event.event);
  badge.textContent = event.event;
  cells[2].textContent = event.source || "";
  cells[3].textContent = event.account || "";
  cells[4].textContent = event.venue || "";
  cells[5].textContent = event.symbol || "";
  cells[6].textContent = event.side || "";
  cells[7].textContent = event.volume || "";
  cells[8].textContent = event.price || "";
  cells[9].textContent = event.status || "";
  cells[10].textContent = fmtUs(event.latency_us);
  const why = event.reason || (event.signal_id ? "signal " + event.signal_id : "");
  cells[11].textContent = why;
  cells[11].title = why;
}

function render() {
  if (!view) return;
  const count = rowCount();
  spacer.style.height = count * ROW + "px";
  const height = scroller.clientHeight || 600;
  const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scroller.scrollTop + height) / ROW) + OVERSCAN);
  rowsEl.style.transform = "translateY(" + first * ROW + "px)";
  let used = 0;
  for (let i = first; i < last; i++) {
    const event = rowAt(i);
    if (event === undefined) fetchPage(Math.floor((i - view.live.length) / PAGE));
    const el = pool[used] || (pool[used] = makeRow());
    el.hidden = false;
    fill(el, event, i);
    used++;
  }
  for (let i = used; i < pool.length; i++) pool[i].hidden = true;
  $("#empty").hidden = count > 0 || rowsEl.dataset.state === "loading";
  $("#count").textContent = count.toLocaleString("en-US") + (count === 1 ? " event" : " events") +
    (view.key ? " match" + (count === 1 ? "es" : "") : "") + " · newest first";
  const newer = $("#newer");
  newer.hidden = view.unseen === 0;
  newer.textContent = "↑ " + view.unseen.toLocaleString("en-US") + " new";
}

scroller.addEventListener("scroll", () => {
  if (view && scroller.scrollTop < ROW) view.unseen = 0;
  scheduleRender();
}, {passive: true});
window.addEventListener("resize", scheduleRender);
$("#newer").addEventListener("click", () => { scroller.scrollTop = 0; view.unseen = 0; scheduleRender(); });

rowsEl.addEventListener("click", (e) => {
  const row = e.target.closest(".row");
  if (row && row.dataset.signal) openTimeline(row.dataset.signal, true);
});

// ---------------------------------------------------------------------------------------------
// live tail (Server-Sent Events)

function connectLive(gen) {
  const params = query(view.filters);
  params.set("after", String(view.lastSeq));
  const es = new EventSource("/api/v1/events/live?" + params);
  source = es;
  const liveEl = $("#live");
  es.onopen = () => { liveEl.dataset.state = "live"; liveEl.textContent = "live"; };
  es.onerror = () => {
    if (gen !== generation) return;
    liveEl.dataset.state = "down";
    liveEl.textContent = "reconnecting…";
    if (es.readyState === EventSource.CLOSED) {
      // the server refused the stream (a lost session, a restart): check, then start again
      setTimeout(() => {
        if (gen !== generation) return;
        getJson("/api/v1/connections").then(() => { if (gen === generation) openView(view.filters); })
          .catch(() => {});
      }, 2000);
    }
  };
  es.addEventListener("events", (msg) => {
    if (gen !== generation) return;
    const data = JSON.parse(msg.data);
    addLive(data.events);
  });
  es.addEventListener("health", (msg) => showHealth(JSON.parse(msg.data)));
  es.addEventListener("reset", () => { if (gen === generation) openView(view.filters); });
}

let latencyTimer = null;

function addLive(events) {
  let added = 0;
  for (const event of events) {
    if (event.seq <= view.lastSeq) continue;
    view.live.push(event);
    view.lastSeq = event.seq;
    added++;
  }
  if (!added) return;
  if (scroller.scrollTop >= ROW) {
    // keep the rows the reader is looking at in place
    scroller.scrollTop += added * ROW;
    view.unseen += added;
  }
  rowsEl.dataset.matched = String(rowCount());
  scheduleRender();
  if (selected && events.some((e) => e.signal_id === selected)) openTimeline(selected, false);
  if (!latencyTimer) latencyTimer = setTimeout(() => { latencyTimer = null; refreshLatency(); }, 1500);
}

// ---------------------------------------------------------------------------------------------
// connection health and kill switch

function showHealth(health) {
  const box = $("#health");
  box.textContent = "";
  for (const account of health.accounts) {
    const chip = document.createElement("span");
    chip.className = "chip" + (account.kill_switch ? " killed" : "");
    chip.dataset.state = account.state;
    chip.dataset.account = account.name;
    chip.title = account.venue + ": " + account.state + (account.kill_switch ? ", kill switch on" : "");
    const name = document.createElement("b");
    name.textContent = account.name;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = account.state;
    chip.append(name, state);
    box.appendChild(chip);
  }
  $("#kill").hidden = !health.kill_all;
}

// ---------------------------------------------------------------------------------------------
// latency at a glance

const BUCKET_LABELS = ["≤50µs", "≤100µs", "≤200µs", "≤500µs", "≤1ms", "≤2ms", "≤5ms", "≤10ms", "≤20ms", "≤50ms", "≤100ms", ">100ms"];

function refreshLatency() {
  const gen = generation;
  const box = $("#latency");
  box.dataset.state = "loading";
  getJson("/api/v1/events/latency?" + query(view.filters)).then((data) => {
    if (gen !== generation) return;
    box.dataset.state = "ready";
    box.textContent = "";
    const venues = Object.entries(data.venues);
    if (!venues.length) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "No order was sent in this view.";
      box.appendChild(p);
      return;
    }
    if (venues.length > 1) venues.unshift(["all venues", data.all]);
    for (const [name, stats] of venues) box.appendChild(venueBlock(name, stats));
  }).catch(() => {});
}

function venueBlock(name, stats) {
  const block = document.createElement("div");
  block.className = "venue";
  block.dataset.venue = name;
  const title = document.createElement("h3");
  title.textContent = name;
  const count = document.createElement("span");
  count.textContent = stats.count.toLocaleString("en-US") + " signals";
  title.appendChild(count);
  const line = document.createElement("div");
  line.className = "stats";
  for (const [label, value] of [["p50", stats.p50_us], ["p99", stats.p99_us], ["max", stats.max_us]]) {
    const item = document.createElement("span");
    item.append(label + " ");
    const b = document.createElement("b");
    b.className = label;
    b.textContent = fmtUs(value);
    item.appendChild(b);
    line.appendChild(item);
  }
  const hist = document.createElement("div");
  hist.className = "hist";
  const top = Math.max(1, ...stats.histogram);
  stats.histogram.forEach((n, i) => {
    const bar = document.createElement("div");
    bar.style.height = (n ? Math.max(3, (100 * n) / top) : 0) + "%";
    bar.title = BUCKET_LABELS[i] + ": " + n;
    hist.appendChild(bar);
  });
  const axis = document.createElement("div");
  axis.className = "hist-axis";
  for (const label of ["50µs", "1ms", "100ms+"]) {
    const span = document.createElement("span");
    span.textContent = label;
    axis.appendChild(span);
  }
  block.append(title, line, hist, axis);
  return block;
}

// ---------------------------------------------------------------------------------------------
// a signal's timeline

const STATUS_CLASS = {
  accepted: "ok", filled: "ok", acked: "ok", sent: "info", planned: "info", queued: "info",
  skipped: "warn", unknown: "warn", duplicate: "warn", rejected: "bad", failed: "bad",
};

const STEP_WORDS = {
  received: "received", signal_accepted: "accepted", signal_duplicate: "duplicate", signal_rejected: "rejected",
  order_planned: "planned", order_sent: "sent", order_acked: "acked", order_filled: "filled",
  order_rejected: "rejected", order_skipped: "skipped", order_unknown: "outcome unknown",
  order_reconciled: "reconciled", order_adopted: "adopted", order_failed: "failed",
  position_linked: "position linked", position_reduced: "position reduced", position_closed: "position closed",
  position_unlinked: "position unlinked",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function statusBadge(status) {
  return el("span", "status " + (STATUS_CLASS[status] || ""), status || "—");
}

function stepList(steps) {
  const list = el("ol", "tl-steps");
  for (const step of steps) {
    const item = el("li");
    item.dataset.event = step.event;
    item.append(el("span", "at", step.at_us === null || step.at_us === undefined ? "" : "+" + fmtUs(step.at_us)),
      el("span", "what", STEP_WORDS[step.event] || step.event));
    const parts = [];
    if (step.volume) parts.push((step.side || "") + " " + step.volume + " " + (step.symbol || ""));
    if (step.price) parts.push("@ " + step.price);
    if (step.reason) parts.push(step.reason);
    if (step.detail && step.detail.code) parts.push("venue code " + step.detail.code);
    if (step.client_order_id) parts.push("id " + step.client_order_id);
    item.append(el("span", "info", parts.join(" · ")));
    list.appendChild(item);
  }
  return list;
}

function bar(kind, value, scale) {
  const row = el("div", "bar " + kind);
  const track = el("div", "track");
  const fillEl = el("div", "fill");
  fillEl.style.width = (value === null || value === undefined ? 0 : Math.max(0.5, (100 * value) / scale)) + "%";
  track.appendChild(fillEl);
  row.append(el("span", "label", kind), track, el("span", "val", value === null || value === undefined ? "—" : fmtUs(value)));
  return row;
}

function renderTimeline(story) {
  const body = $("#timeline-body");
  body.textContent = "";
  const sig = story.signal || {};
  const title = el("h2", null, "Signal " + story.signal_id + " ");
  title.appendChild(statusBadge(story.status));
  body.appendChild(title);
  const meta = el("div", "tl-meta");
  const facts = [
    ["source", sig.source], ["action", sig.action], ["symbol", sig.symbol], ["side", sig.side],
    ["volume", sig.volume], ["price", sig.price], ["origin id", sig.origin_id],
    ["received", story.received_at], ["propagation", fmtUs(story.propagation_us)],
  ];
  for (const [label, value] of facts) {
    if (value === null || value === undefined || value === "") continue;
    const item = el("span", null, label + " ");
    item.appendChild(el("b", null, String(value)));
    meta.appendChild(item);
  }
  body.appendChild(meta);
  if (story.reason) body.appendChild(el("p", "why", story.reason));
  body.appendChild(stepList([{event: "received", at_us: 0}, ...story.steps]));
  const scale = Math.max(1, ...story.followers.flatMap((f) => f.orders.map((o) => Math.max(o.ack_us || 0, o.latency_us || 0))));
  for (const follower of story.followers) {
    const cls = STATUS_CLASS[follower.status] || "";
    const card = el("div", "follower " + cls);
    card.dataset.account = follower.account;
    const head = el("h3", null);
    head.append(el("span", "account", follower.account), el("span", "venue-name", follower.venue || ""),
      statusBadge(follower.status));
    card.appendChild(head);
    if (follower.reason) card.appendChild(el("p", "why", follower.reason));
    for (const order of follower.orders) {
      if (order.latency_us === null && order.ack_us === null) continue;
      const bars = el("div", "bars");
      bars.title = "order " + order.client_order_id;
      bars.append(bar("wire", order.latency_us, scale), bar("ack", order.ack_us, scale));
      card.appendChild(bars);
    }
    card.appendChild(stepList(follower.steps));
    body.appendChild(card);
  }
}

function openTimeline(signalId, push) {
  selected = signalId;
  const panel = $("#timeline");
  panel.hidden = false;
  panel.dataset.signal = signalId;
  if (push) writeUrl();
  scheduleRender();
  getJson("/api/v1/signals/" + encodeURIComponent(signalId) + "/timeline").then((story) => {
    if (selected !== signalId) return;
    renderTimeline(story);
    panel.dataset.state = "ready";
  }).catch((err) => {
    if (selected !== signalId) return;
    $("#timeline-body").textContent = "No timeline for " + signalId + " (" + err.message + ")";
  });
}

function closeTimeline() {
  selected = null;
  $("#timeline").hidden = true;
  writeUrl();
  scheduleRender();
}

$("#close-timeline").addEventListener("click", closeTimeline);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && selected) closeTimeline(); });

// ---------------------------------------------------------------------------------------------
// filters

function applyForm() {
  const filters = formFilters();
  if (view && query(filters).toString() === view.key) return;
  openView(filters);
  writeUrl();
}

$("#filters").addEventListener("change", applyForm);
$("#filters").addEventListener("submit", (e) => { e.preventDefault(); applyForm(); });
let typing = null;
$("#f-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyForm, 250); });
$("#clear").addEventListener("click", () => {
  fillForm({source: "", account: "", venue: "", symbol: "", event: "", status: "", q: "", problems: false});
  applyForm();
});

window.addEventListener("popstate", () => {
  const {filters, signal} = readFilters();
  fillForm(filters);
  if (query(filters).toString() !== view.key) openView(filters);
  if (signal) openTimeline(signal, false);
  else if (selected) { selected = null; $("#timeline").hidden = true; scheduleRender(); }
});

function loadFacets() {
  getJson("/api/v1/events/facets").then((facets) => {
    for (const name of FIELDS) {
      const list = $("#d-" + name);
      list.textContent = "";
      for (const value of facets[name] || []) {
        const option = document.createElement("option");
        option.value = value;
        list.appendChild(option);
      }
    }
  }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// start

(function start() {
  const {filters, signal} = readFilters();
  fillForm(filters);
  openView(filters);
  if (signal) openTimeline(signal, false);
  setTimeout(loadFacets, 300);
  setInterval(loadFacets, 30000);
})();
