// The eventflux dashboard's script: one live connection per page (Server-Sent
// Events read with fetch, so a reconnect sends Last-Event-ID), backing off
// with jitter; live rates; the live tail; live tables (groups, projections,
// breakers); the retry-first-N confirmation; and Mermaid diagrams. Untrusted
// text only ever goes into textContent.
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
    setText("overview-events", rates.events_per_second.toFixed(1));
    setText("overview-messages", rates.messages_per_second.toFixed(1));
    setText("last-position", String(rates.position));
    if (rates.dead_letters !== null) setText("dead-letter-count", String(rates.dead_letters));
    if (rates.lag !== undefined) setText("group-lag", String(rates.lag));
    if (rates.open_breakers !== undefined) setText("open-breakers", String(rates.open_breakers));
  }

  // A value of a live table's cell, as text.
  function formatted(value, format) {
    if (value === null || value === undefined) return "\u2013";
    if (format === "list") return value.join(", ");
    if (format === "seconds") return Number(value).toFixed(1) + " s";
    if (format === "rebuild") {
      var text = value.state;
      if (value.state === "running") text += ": position " + value.position + " of " + value.head;
      if (value.replayed !== null) text += ": " + value.replayed + " events replayed";
      if (value.error) text += ": " + value.error;
      return text;
    }
    return String(value);
  }

  // Fill one cell: text, or a link built from the column's data-link template.
  function fillCell(cell, column, item) {
    var field = column.getAttribute("data-field");
    var format = column.getAttribute("data-format");
    var text = formatted(item[field], format);
    var link = column.getAttribute("data-link");
    cell.textContent = "";
    if (format === "state") cell.className = "state-" + String(item[field]);
    if (format === "rebuild") {
      cell.className = "rebuild";
      if (item[field] && item[field].state === "running") {
        var bar = document.createElement("progress");
        bar.max = Math.max(1, item[field].head);
        bar.value = item[field].position;
        cell.appendChild(bar);
        cell.appendChild(document.createTextNode(" "));
      }
    }
    if (link) {
      var a = document.createElement("a");
      a.href = link.replace(/\{(\w+)\}/g, function (_, name) {
        return encodeURIComponent(String(item[name]));
      });
      a.textContent = text;
      cell.appendChild(a);
    } else {
      cell.appendChild(document.createTextNode(text));
    }
  }

  // Update a live table from a list of items: rows are matched by their key,
  // cells by their column's data-field; cells without one (actions) are kept.
  function fillTable(table, items) {
    var key = table.getAttribute("data-key");
    var columns = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.tBodies[0];
    var rows = {};
    Array.prototype.forEach.call(body.rows, function (row) {
      rows[row.getAttribute("data-key")] = row;
    });
    var seen = {};
    items.forEach(function (item) {
      var id = String(item[key]);
      seen[id] = true;
      var row = Object.prototype.hasOwnProperty.call(rows, id) ? rows[id] : null;
      if (row === null) {
        row = document.createElement("tr");
        row.setAttribute("data-key", id);
        columns.forEach(function (column) {
          var cell = document.createElement("td");
          var field = column.getAttribute("data-field");
          if (field) cell.setAttribute("data-field", field);
          row.appendChild(cell);
        });
        body.appendChild(row);
      }
      columns.forEach(function (column, index) {
        if (column.getAttribute("data-field") && row.cells[index]) {
          fillCell(row.cells[index], column, item);
        }
      });
    });
    Object.keys(rows).forEach(function (id) {
      if (!seen[id]) body.removeChild(rows[id]);
    });
    var note = table.parentNode.querySelector(".empty-note");
    if (note) note.hidden = items.length > 0;
  }

  function topicHandler(topic) {
    return function (items) {
      var tables = document.querySelectorAll("table.live-table[data-topic=" + topic + "]");
      Array.prototype.forEach.call(tables, function (table) { fillTable(table, items); });
    };
  }

  function start() {
    var url = document.body.getAttribute("data-live");
    if (url) {
      live(url, {
        rates: showRates,
        event: addTailRow,
        groups: topicHandler("groups"),
        projections: topicHandler("projections"),
        breakers: topicHandler("breakers"),
      });
    }

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
