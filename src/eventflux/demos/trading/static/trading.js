// The trading page: order entry with immediate feedback, the book's depth,
// the trades tape, a price chart drawn as SVG, the account's portfolio and
// P&L, and the halts. It reads the App's state from <base>/state (JSON) once
// a second; an order is published on the bus subject trading.orders through
// the server's API (msg_id = its client order id, so a resend is one order),
// and the page then asks for that client order id until the exchange answered.
// Untrusted text only ever goes into textContent.
(function () {
  "use strict";

  var root = document.getElementById("trading");
  if (!root) return;
  var base = root.getAttribute("data-base");
  var symbol = root.getAttribute("data-symbol");
  var account = root.getAttribute("data-account");
  var SVG = "http://www.w3.org/2000/svg";

  function money(cents) {
    if (cents === null || cents === undefined) return "–";
    var sign = cents < 0 ? "-" : "";
    var abs = Math.abs(cents);
    return sign + Math.floor(abs / 100).toLocaleString("en") + "." + String(abs % 100).padStart(2, "0");
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function fill(tableId, rows, build) {
    var body = document.querySelector("#" + tableId + " tbody");
    var fresh = document.createElement("tbody");
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      build(tr, r);
      fresh.appendChild(tr);
    });
    body.parentNode.replaceChild(fresh, body);
  }

  function renderBook(book) {
    var rows = [];
    var n = Math.max(book.bids.length, book.asks.length);
    for (var i = 0; i < n; i++) rows.push([book.bids[i], book.asks[i]]);
    fill("depth", rows, function (tr, pair) {
      cell(tr, pair[0] ? pair[0][1] : "", "bid");
      cell(tr, pair[0] ? money(pair[0][0]) : "", "bid");
      cell(tr, pair[1] ? money(pair[1][0]) : "", "ask");
      cell(tr, pair[1] ? pair[1][1] : "", "ask");
    });
    document.getElementById("last-price").textContent = "last " + money(book.last);
    var banner = document.getElementById("halt-banner");
    if (book.halted) {
      banner.hidden = false;
      banner.textContent = book.symbol + " is halted: " + (book.halt ? book.halt.reason : "") +
        "; resumes in about " + book.resumes_in + " s";
    } else {
      banner.hidden = true;
      banner.textContent = "";
    }
  }

  function renderTape(tape) {
    fill("tape", tape, function (tr, t) {
      tr.setAttribute("data-trade", t.trade_id);
      cell(tr, t.trade_id);
      cell(tr, money(t.price), t.side === "buy" ? "bid" : "ask");
      cell(tr, t.quantity);
      cell(tr, t.buyer);
      cell(tr, t.seller);
    });
  }

  function renderChart(prices) {
    var svg = document.getElementById("chart");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (prices.length < 2) return;
    var values = prices.map(function (p) { return p[1]; });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (hi === lo) { hi += 1; lo -= 1; }
    var w = 600, h = 200, pad = 18;
    var points = values.map(function (v, i) {
      var x = pad + (i * (w - 2 * pad)) / (values.length - 1);
      var y = h - pad - ((v - lo) * (h - 2 * pad)) / (hi - lo);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#1f5fbf");
    line.setAttribute("stroke-width", "1.5");
    svg.appendChild(line);
    [[hi, pad], [lo, h - pad]].forEach(function (label) {
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", "2");
      text.setAttribute("y", String(label[1] + (label[1] === pad ? -4 : 14)));
      text.setAttribute("font-size", "11");
      text.textContent = money(label[0]);
      svg.appendChild(text);
    });
  }

  function renderPortfolio(p) {
    if (!p) {
      fill("portfolio", [["no portfolio yet for " + account]], function (tr, r) { cell(tr, r[0]); });
      return;
    }
    var rows = [["cash", money(p.cash)]];
    p.positions.forEach(function (x) {
      rows.push([x.symbol, x.quantity + " @ " + money(x.average_cost) + ", mark " + money(x.mark) +
        ", realised " + money(x.realized) + ", unrealised " + money(x.unrealized)]);
    });
    rows.push(["equity", money(p.equity)]);
    rows.push(["P&L", "realised " + money(p.realized) + ", unrealised " + money(p.unrealized)]);
    fill("portfolio", rows, function (tr, r) {
      tr.setAttribute("data-row", r[0]);
      cell(tr, r[0]);
      cell(tr, r[1]);
    });
  }

  function renderOpen(orders) {
    fill("open-orders", orders, function (tr, o) {
      cell(tr, o.order_id);
      cell(tr, o.side);
      cell(tr, money(o.price));
      cell(tr, o.open);
      cell(tr, o.filled);
    });
  }

  function renderHalts(halts) {
    fill("halts", halts, function (tr, h) {
      cell(tr, h.symbol);
      cell(tr, h.halted ? "halted" : "trading");
      cell(tr, "breaker " + h.breaker + ": " + h.state);
    });
  }

  function describe(ack) {
    if (ack.status === "rejected") return ["rejected: " + ack.reason, "rejected"];
    var text = ack.status + ": " + (ack.order_id || "");
    if (ack.filled) text += ", " + ack.filled + " filled at " + money(ack.average_price);
    if (ack.open) text += ", " + ack.open + " open";
    if (ack.status === "cancelled" && ack.reason) text += " (" + ack.reason + ")";
    return [text, "done"];
  }

  function refresh(clientOrderId) {
    var url = base + "/state?symbol=" + encodeURIComponent(symbol) + "&account=" +
      encodeURIComponent(account);
    if (clientOrderId) url += "&client_order_id=" + encodeURIComponent(clientOrderId);
    return fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (text) {
        var s = JSON.parse(text);
        if (s.error) {
          document.getElementById("order-feedback").textContent = s.error;
          return s;
        }
        renderBook(s.book);
        renderTape(s.tape);
        renderChart(s.prices);
        renderPortfolio(s.portfolio);
        renderOpen(s.open_orders);
        renderHalts(s.halts);
        root.setAttribute("data-updated", String(Date.now()));
        return s;
      });
  }

  function awaitAck(clientOrderId, deadline) {
    var feedback = document.getElementById("order-feedback");
    return refresh(clientOrderId).then(function (s) {
      if (s.ack) {
        var d = describe(s.ack);
        feedback.textContent = d[0];
        feedback.className = "feedback " + d[1];
        return;
      }
      if (Date.now() > deadline) {
        feedback.textContent = "no answer yet for " + clientOrderId + " (it is not lost: " +
          "resending it cannot create a second order)";
        feedback.className = "feedback error";
        return;
      }
      return new Promise(function (ok) { setTimeout(ok, 100); }).then(function () {
        return awaitAck(clientOrderId, deadline);
      });
    });
  }

  document.getElementById("order-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var feedback = document.getElementById("order-feedback");
    var quantity = parseInt(document.getElementById("order-quantity").value, 10);
    var priceText = document.getElementById("order-price").value;
    var data = {
      account: account,
      symbol: symbol,
      side: document.getElementById("order-side").value,
      quantity: quantity,
      tif: document.getElementById("order-tif").value,
      post_only: document.getElementById("order-post-only").checked
    };
    if (priceText !== "") data.price = parseInt(priceText, 10);
    else if (data.tif === "gtc") data.tif = "ioc";
    var clientOrderId = "web-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8);
    feedback.textContent = "sending " + clientOrderId + "…";
    feedback.className = "feedback";
    fetch("/api/publish/trading.orders", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ data: data, msg_id: clientOrderId, key: account })
    }).then(function (r) {
      if (!r.ok) {
        return r.text().then(function (t) {
          feedback.textContent = "refused by the server: HTTP " + r.status + " " + t;
          feedback.className = "feedback error";
        });
      }
      return awaitAck(clientOrderId, Date.now() + 10000);
    }).catch(function (e) {
      feedback.textContent = "could not send: " + e;
      feedback.className = "feedback error";
    });
  });

  refresh(null).catch(function () {});
  setInterval(function () { refresh(null).catch(function () {}); }, 1000);
})();
