// The orders demo page: places orders, polls the JSON routes, draws the
// timeline. Served as a file: the server's Content-Security-Policy runs no
// inline script.
(() => {
  "use strict";
  const base = document.body.dataset.base;
  let selected = null;
  let gatewayDown = false;
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $("message").textContent = text; };

  async function call(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    };
    const r = await fetch(base + path, init);
    const data = await r.json();
    if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
    return data;
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function renderOrders(data) {
    const body = $("orders");
    body.replaceChildren();
    for (const o of data.orders) {
      const tr = document.createElement("tr");
      tr.className = "order" + (o.order_id === selected ? " selected" : "");
      tr.dataset.orderId = o.order_id;
      tr.dataset.status = o.status;
      tr.append(cell(o.order_id), cell(o.qty + " × " + o.sku),
                cell(o.status + (o.reason ? " (" + o.reason + ")" : ""), "status status-" + o.status),
                cell(String(o.steps)));
      tr.addEventListener("click", () => { selected = o.order_id; refreshDetail(); renderOrders(data); });
      body.append(tr);
    }
    const counts = Object.entries(data.counts).map(([k, v]) => v + " " + k);
    $("counts").textContent = counts.length ? "(" + counts.join(", ") + ")" : "";
  }

  function renderDetail(o) {
    const box = $("detail");
    box.classList.remove("muted");
    box.replaceChildren();
    const head = document.createElement("p");
    const status = document.createElement("span");
    status.className = "status status-" + o.status;
    status.dataset.testid = "detail-status";
    status.textContent = o.status + (o.reason ? " (" + o.reason + ")" : "");
    head.append(o.qty + " × " + o.sku + " for " + o.customer + ": ", status);
    const deadlines = Object.entries(o.deadlines || {});
    if (deadlines.length) head.append(" · waiting: " + deadlines.map(([n, d]) => n + " until " + new Date(d).toLocaleTimeString()).join(", "));
    const link = document.createElement("a");
    link.href = o.trace;
    link.dataset.testid = "trace-link";
    link.textContent = "causal chain as a sequence diagram";
    head.append(" · ", link);
    const list = document.createElement("ol");
    list.className = "timeline";
    list.dataset.testid = "timeline";
    for (const t of o.timeline) {
      const li = document.createElement("li");
      li.dataset.type = t.type;
      const svc = document.createElement("span");
      svc.className = "svc";
      svc.textContent = t.service;
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = " " + new Date(t.at).toLocaleTimeString() + " ";
      li.append(svc, " " + t.type, when, t.detail);
      list.append(li);
    }
    box.append(head, list);
    $("detail-id").textContent = o.order_id;
  }

  async function refreshDetail() {
    if (!selected) return;
    try { renderDetail(await call("api/orders/" + encodeURIComponent(selected))); }
    catch (e) { say(e.message); }
  }

  function renderGateway(g) {
    gatewayDown = g.down;
    $("gateway-state").textContent = g.down ? "down (outage)" : "up";
    $("outage").textContent = g.down ? "End the outage" : "Start an outage";
    $("outage").className = g.down ? "" : "danger";
    const box = $("breakers");
    box.replaceChildren();
    if (!g.breakers.length) { box.textContent = "none changed yet (closed)"; return; }
    box.classList.remove("muted");
    for (const b of g.breakers) {
      const span = document.createElement("span");
      span.className = "breaker breaker-" + b.state;
      span.dataset.state = b.state;
      span.title = b.reason || "";
      span.textContent = b.worker + ": " + b.state.replace("_", "-");
      box.append(span);
    }
  }

  async function tick() {
    try {
      renderOrders(await call("api/orders"));
      renderGateway(await call("api/gateway"));
      await refreshDetail();
    } catch (e) { say(e.message); }
  }

  $("place-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await call("api/orders", {
        sku: $("sku").value, qty: Number($("qty").value), customer: $("customer").value,
      });
      selected = r.order_id;
      say("placed " + r.order_id);
      await tick();
    } catch (e) { say(e.message); }
  });
  $("load-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await call("api/load", {n: Number($("load-n").value)});
      say("placed " + r.placed + " orders");
      await tick();
    } catch (e) { say(e.message); }
  });
  $("outage").addEventListener("click", async () => {
    try { renderGateway(await call("api/gateway", {down: !gatewayDown})); }
    catch (e) { say(e.message); }
  });
  tick();
  setInterval(tick, 800);
})();
