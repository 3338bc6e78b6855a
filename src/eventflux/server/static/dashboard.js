// The eventflux dashboard's script: one live connection per page (Server-Sent
// Events read with fetch, so a reconnect sends Last-Event-ID), backing off
// with jitter; live rates; the live tail; the retry-first-N confirmation; and
// Mermaid diagrams. Untrusted text only ever goes into textContent.
(function () {
  "use strict";

  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  function parseEvents(onEvent) {
    var buffer = "";
    var current = { id: null, event: "message", data: [] };
    return function feed(text) {
      buffer += text;
      var i;
      while ((i = buffer.indexOf("\n")) >= 0) {
        var line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (current.data.length) onEvent(current);
          current = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.charAt(0) === ":") continue;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.charAt(0) === " ") value = value.slice(1);
        if (field === "id") current.id = value;
        else if (field === "event") current.event = value;
        else if (field === "data") current.data.push(value);
      }
    };
  }

  // One connection; on any end or error, reconnect after min(30 s, 0.5 s * 2^n)
  // times a random factor in [0.5, 1], resuming after the last id received.
  function live(url, handlers) {
    var lastId = null;
    var attempt = 0;
    function status(text) {
      setText("live-status", text);
      document.body.setAttribute("data-live-status", text);
    }
    function connect() {
      var headers = { Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      var decoder = new TextDecoder();
      var feed = parseEvents(function (ev) {
        if (ev.id !== null) lastId = ev.id;
        var handler = handlers[ev.event];
        if (handler) handler(JSON.parse(ev.data.join("\n")), ev.id);
      });
      fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
          attempt = 0;
          status("live");
          var reader = response.body.getReader();
          function pump() {
            return reader.read().then(function (chunk) {
              if (chunk.done) return;
              feed(decoder.decode(chunk.value, { stream: true }));
              return pump();
            });
          }
          return pump();
        })
        .catch(function () {})
        .then(function () {
          attempt += 1;
          var delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempt, 6)));
          delay = delay * (0.5 + Math.random() * 0.5);
          status("reconnecting");
          setTimeout(connect, delay);
        });
    }
    connect();
  }

  function addTailRow(event) {
    var table = document.getElementById("tail-rows");
    if (!table) return;
    var row = document.createElement("tr");
    row.className = "tail-event";
    row.setAttribute("data-position", String(event.position));
    var cells = [
      String(event.position),
      event.recorded_at,
      event.stream + "@" + event.version,
      event.type,
      JSON.stringify(event.data),
    ];
    cells.forEach(function (text, index) {
      var cell = document.createElement("td");
      if (index === 2) {
        var link = document.createElement("a");
        link.href = "/event?stream=" + encodeURIComponent(event.stream) +
          "&version=" + encodeURIComponent(String(event.version));
        link.textContent = text;
        cell.appendChild(link);
      } else {
        cell.textContent = text;
      }
      row.appendChild(cell);
    });
    table.insertBefore(row, table.firstChild);
    while (table.children.length > 500) table.removeChild(table.lastChild);
    var count = document.getElementById("tail-count");
    if (count) count.textContent = String(Number(count.textContent || "0") + 1);
  }

  function showRates(rates) {
    setText("rate-events", rates.events_per_second.toFixed(1));
    setText("rate-messages", rates.messages_per_second.toFixed(1));
    setText("last-position", String(rates.position));
    if (rates.dead_letters !== null) setText("dead-letter-count", String(rates.dead_letters));
  }

  function start() {
    var url = document.body.getAttribute("data-live");
    if (url) live(url, { rates: showRates, event: addTailRow });

    // "retry the first N" says how many it will retry, out of how many
    document.body.addEventListener("htmx:confirm", function (e) {
      var form = e.target.closest && e.target.closest("form[data-retry-first]");
      if (!form) return;
      e.preventDefault();
      var n = form.querySelector("input[name=n]").value;
      var total = form.getAttribute("data-retry-first");
      if (window.confirm("Retry the first " + n + " of " + total + " dead letters?")) {
        e.detail.issueRequest(true);
      }
    });

    if (window.mermaid && document.querySelector(".mermaid")) {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      window.mermaid.run({ querySelector: ".mermaid" });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
