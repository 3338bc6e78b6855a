// The smart-home page: device tiles read from <base>/state a few times a
// second, buttons that publish commands and simulator controls through the
// server's POST /api/publish/{subject}, the automations with their last run
// (its trace from <base>/run, its causal chain in the dashboard), and why a
// device is in its state (<base>/explain). Untrusted text only goes into
// textContent.
(function () {
  "use strict";

  var root = document.getElementById("smarthome");
  if (!root) return;
  var base = root.getAttribute("data-base");
  var feedback = document.getElementById("feedback");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function publish(subject, data) {
    feedback.textContent = "sending " + subject + "…";
    return fetch("/api/publish/" + encodeURIComponent(subject), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ data: data })
    }).then(function (r) {
      feedback.textContent = r.ok ? "sent " + subject : "refused: HTTP " + r.status;
      setTimeout(refresh, 150);
    }).catch(function (e) { feedback.textContent = "could not send: " + e; });
  }

  function commandSubject(entity) {
    var parts = entity.split(".");
    return "home." + parts[0] + "." + parts[1] + ".command";
  }

  function button(label, onClick, name) {
    var b = el("button", label);
    b.type = "button";
    if (name) b.setAttribute("data-action", name);
    b.addEventListener("click", onClick);
    return b;
  }

  function tileButtons(d, tile) {
    var id = d.entity_id;
    if (d.kind === "light") {
      tile.appendChild(button("on", function () { publish(commandSubject(id), { command: "turn_on", brightness: 80 }); }, "on"));
      tile.appendChild(button("off", function () { publish(commandSubject(id), { command: "turn_off" }); }, "off"));
    } else if (d.kind === "lock") {
      tile.appendChild(button("lock", function () { publish(commandSubject(id), { command: "lock" }); }, "lock"));
      tile.appendChild(button("unlock", function () { publish(commandSubject(id), { command: "unlock" }); }, "unlock"));
    } else if (d.kind === "thermostat") {
      tile.appendChild(button("heat", function () { publish(commandSubject(id), { command: "set_mode", mode: "heat" }); }, "heat"));
      tile.appendChild(button("eco", function () { publish(commandSubject(id), { command: "set_mode", mode: "eco" }); }, "eco"));
    } else if (d.kind === "motion") {
      tile.appendChild(button("motion", function () { publish("smarthome.sim.motion", { entity_id: id }); }, "motion"));
    } else if (d.kind === "contact") {
      tile.appendChild(button("open", function () { publish("smarthome.sim.door", { entity_id: id, open: true }); }, "open"));
      tile.appendChild(button("close", function () { publish("smarthome.sim.door", { entity_id: id, open: false }); }, "close"));
    }
    tile.appendChild(button("why?", function () { why(id); }, "why"));
  }

  function describeState(d) {
    var a = d.attributes || {};
    if (d.kind === "light" && d.state === "on") return "on " + (a.brightness || 100) + "%";
    if (d.kind === "thermostat") return d.state + " " + a.current_temperature + "° → " + a.setpoint + "°";
    if (d.kind === "energy") return d.state + " W";
    return d.state;
  }

  function renderTiles(devices) {
    var tiles = document.getElementById("tiles");
    var fresh = document.createDocumentFragment();
    devices.forEach(function (d) {
      var on = d.state === "on" || d.state === "open" || d.state === "unlocked";
      var tile = el("div", null, "tile" + (on ? " on" : "") + (d.online ? "" : " offline"));
      tile.setAttribute("data-entity", d.entity_id);
      tile.setAttribute("data-state", String(d.state));
      tile.appendChild(el("h3", d.entity_id));
      tile.appendChild(el("div", describeState(d), "state"));
      tile.appendChild(el("div", (d.online ? "online" : "OFFLINE") + " · seen " + String(d.last_seen || "").slice(11, 19), "meta"));
      tileButtons(d, tile);
      fresh.appendChild(tile);
    });
    tiles.textContent = "";
    tiles.appendChild(fresh);
  }

  function renderAutomations(items) {
    var body = document.querySelector("#automations tbody");
    var fresh = document.createElement("tbody");
    items.forEach(function (a) {
      var tr = el("tr");
      tr.setAttribute("data-automation", a.id);
      var name = el("td");
      name.appendChild(el("b", a.alias));
      name.appendChild(el("div", a.description, "meta"));
      tr.appendChild(name);
      tr.appendChild(el("td", a.mode));
      tr.appendChild(el("td", a.runs));
      var last = a.last_run;
      tr.appendChild(el("td", last ? String(last.started_at).slice(11, 19) + " " + (last.outcome || last.status) + " — " + (last.trigger_description || "") : "never"));
      var cell = el("td");
      if (last) cell.appendChild(button("trace", function () { showRun(last.run_id); }, "trace"));
      tr.appendChild(cell);
      fresh.appendChild(tr);
    });
    body.parentNode.replaceChild(fresh, body);
  }

  function renderNotifications(items) {
    var list = document.getElementById("notifications");
    list.textContent = "";
    items.forEach(function (n) {
      list.appendChild(el("li", String(n.at).slice(11, 19) + " " + (n.title ? n.title + ": " : "") + n.message));
    });
  }

  function getJson(path) {
    return fetch(base + path, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (t) { return JSON.parse(t); });
  }

  function showRun(runId) {
    getJson("/run?run_id=" + encodeURIComponent(runId)).then(function (r) {
      var box = document.getElementById("run");
      box.hidden = false;
      if (r.error) { document.getElementById("run-title").textContent = r.error; return; }
      document.getElementById("run-title").textContent = r.alias + " — run " + r.run_id + " (" + (r.outcome || "running") + ")";
      document.getElementById("run-trigger").textContent = "trigger " + (r.trigger ? r.trigger.id + ": " + r.trigger.description : "");
      document.getElementById("run-conditions").textContent = "conditions: " + r.conditions_text;
      var steps = document.getElementById("run-steps");
      steps.textContent = "";
      r.lines.forEach(function (line) { steps.appendChild(el("li", line)); });
      document.getElementById("run-chain").href = "/trace?correlation_id=" + encodeURIComponent(r.correlation_id || "");
    });
  }

  function why(entity) {
    getJson("/explain?entity_id=" + encodeURIComponent(entity)).then(function (r) {
      document.getElementById("why").textContent = r.lines.join("\n");
    });
  }

  function refresh() {
    return getJson("/state").then(function (s) {
      if (s.error) { feedback.textContent = s.error; return; }
      renderTiles(s.devices);
      renderAutomations(s.automations);
      renderNotifications(s.notifications);
      root.setAttribute("data-updated", String(Date.now()));
    }).catch(function () {});
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-control]"), function (b) {
    b.addEventListener("click", function () {
      var what = b.getAttribute("data-control");
      var data = {};
      if (what === "power") data.on = b.getAttribute("data-on") === "true";
      if (what === "spike") data.watts = 3500;
      publish("smarthome.sim." + what, data);
    });
  });

  refresh();
  setInterval(refresh, 700);
})();
