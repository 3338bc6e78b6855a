// The chat page: one WebSocket to <base>/ws, resumed after every break.
// It keeps each room's timeline by version; on a reconnect (to whichever
// server process the address reaches) it joins the room again with the last
// version it saw, and the server sends exactly what it missed. A sent message
// stays pending until its acknowledgement; without one within ACK_TIMEOUT the
// page reconnects and sends it again with the same client message id, which
// never posts twice. Untrusted text only ever goes into textContent.
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root) return;
  var base = root.getAttribute("data-base");
  var heartbeat = parseFloat(root.getAttribute("data-heartbeat")) || 10;
  var ACK_TIMEOUT = 10000;
  var NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  var $ = function (id) { return document.getElementById(id); };

  var user = root.getAttribute("data-user") || localStorage.getItem("eventflux-chat-user") || "";
  var client = sessionStorage.getItem("eventflux-chat-client");
  if (!client) {
    client = Math.random().toString(36).slice(2) + Date.now().toString(36);
    sessionStorage.setItem("eventflux-chat-client", client);
  }
  var current = root.getAttribute("data-room") || decodeURIComponent(location.hash.slice(1)) ||
    localStorage.getItem("eventflux-chat-room") || "";
  var rooms = {};          // room -> {last, events: {version: item}, oldest, more}
  var pending = {};        // cid -> {room, text, sent}
  var ws = null, ready = false, backoff = 500, pinger = null, typingAt = 0;
  var typingShown = {};    // user -> timer

  function status(text) { $("chat-status").textContent = text; document.body.setAttribute("data-chat", text); }
  function error(text) {
    var p = $("chat-error");
    p.textContent = text || "";
    p.hidden = !text;
  }
  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function cid() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  // -- the connection ---------------------------------------------------------------------
  function connect() {
    if (!NAME.test(user)) { $("chat-login").hidden = false; status("signed out"); return; }
    $("chat-login").hidden = true;
    $("chat-me").textContent = user;
    localStorage.setItem("eventflux-chat-user", user);
    status("connecting");
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + base + "/ws");
    ws.onopen = function () { send({op: "hello", user: user, client: client}); };
    ws.onmessage = function (m) { receive(JSON.parse(m.data)); };
    ws.onclose = function (e) {
      ready = false;
      clearInterval(pinger);
      if (e.code === 1008 && e.reason === "InvalidUserName") { status("signed out"); return; }
      status("reconnecting");
      var wait = backoff * (0.5 + Math.random() / 2);
      backoff = Math.min(backoff * 2, 10000);
      setTimeout(connect, wait);
    };
  }

  function welcome() {
    ready = true;
    backoff = 500;
    status("online");
    pinger = setInterval(function () { send({op: "ping"}); }, heartbeat * 1000);
    if (document.visibilityState === "hidden") send({op: "status", state: "away"});
    send({op: "rooms"});
    Object.keys(rooms).forEach(function (r) {
      if (r === current) return;
      send({op: "join", room: r, after: rooms[r].last});
    });
    if (current) openRoom(current);
    resendPending();
  }

  function resendPending() {
    Object.keys(pending).forEach(function (id) {
      var p = pending[id];
      p.sent = Date.now();
      send({op: "send", room: p.room, text: p.text, cid: id});
    });
    showPending();
  }

  setInterval(function () {  // an unanswered send: the connection is not what it seems
    var now = Date.now();
    var late = Object.keys(pending).some(function (id) { return now - pending[id].sent > ACK_TIMEOUT; });
    if (late && ws && ready) ws.close();
  }, 1000);

  setInterval(function () { if (ready) send({op: "rooms"}); }, 15000);

  document.addEventListener("visibilitychange", function () {
    send({op: "status", state: document.visibilityState === "hidden" ? "away" : "online"});
  });

  // -- frames in ------------------------------------------------------------------------------
  function receive(f) {
    switch (f.type) {
      case "welcome": welcome(); break;
      case "rooms": renderRooms(f.rooms, f.dms); break;
      case "created": openRoom(f.room); send({op: "rooms"}); break;
      case "dm": openRoom(f.room); break;
      case "joined": joined(f); break;
      case "event": add(f.room, f.event); break;
      case "history": older(f); break;
      case "presence": renderPresence(f.room, f.members, true); break;
      case "presence_diff": diffPresence(f); break;
      case "typing": typing(f); break;
      case "dm_notice": markUnread(f.room); send({op: "rooms"}); break;
      case "ack": delete pending[f.cid]; showPending(); break;
      case "left": break;
      case "error": failed(f); break;
    }
  }

  function failed(f) {
    var e = f.error || {};
    if (f.cid && pending[f.cid] && e.type !== "RateLimited") { delete pending[f.cid]; showPending(); }
    if (e.type === "RateLimited" && f.cid && pending[f.cid]) {
      setTimeout(function () { resendPending(); }, (e.retry_after || 1) * 1000);
    }
    error((e.type || "Error") + ": " + (e.message || ""));
  }

  function state(room) {
    if (!rooms[room]) rooms[room] = {last: 0, events: {}, oldest: null, more: false, presence: {}};
    return rooms[room];
  }

  function joined(f) {
    var s = state(f.room);
    if (f.events) {
      if (!f.resumed) { s.events = {}; s.last = 0; }
      f.events.forEach(function (item) { s.events[item.version] = item; s.last = Math.max(s.last, item.version); });
      s.oldest = f.events.length ? f.events[0].version : (f.version || 0) + 1;
      s.more = !!f.more;
      s.last = Math.max(s.last, f.version || 0);
    }
    if (f.room === current) renderTimeline();
  }

  function add(room, item) {
    var s = state(room);
    if (item.version <= s.last) return;  // the server never repeats one; be safe anyway
    s.last = item.version;
    s.events[item.version] = item;
    if (s.oldest === null) s.oldest = item.version;
    if (room === current) {
      if (item.type === "MessageEdited" || item.type === "MessageDeleted") renderTimeline();
      else appendItem(item, true);
    } else if (room.indexOf("dm:") === 0 && item.type === "MessagePosted") {
      markUnread(room);
    }
    if (item.type === "MemberJoined" || item.type === "MemberLeft") send({op: "rooms"});
  }

  function older(f) {
    var s = state(f.room);
    f.events.forEach(function (item) { s.events[item.version] = item; });
    if (f.events.length) s.oldest = f.events[0].version;
    s.more = !!f.more;
    if (f.room === current) renderTimeline();
  }

  // -- rendering (textContent only) ----------------------------------------------------------
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function renderRooms(list, dms) {
    var ul = $("rooms");
    ul.textContent = "";
    list.forEach(function (r) {
      var li = el("li", r.room);
      li.setAttribute("data-room", r.room);
      li.appendChild(el("span", " " + r.members + " members · " + r.online + " here", "count"));
      if (r.room === current) li.classList.add("current");
      li.addEventListener("click", function () { openRoom(r.room); });
      ul.appendChild(li);
    });
    var dl = $("dms");
    var unread = {};
    Array.prototype.forEach.call(dl.querySelectorAll("li.unread"), function (li) { unread[li.getAttribute("data-room")] = true; });
    dl.textContent = "";
    (dms || []).forEach(function (d) {
      var li = el("li", d.with);
      li.setAttribute("data-room", d.room);
      if (d.room === current) li.classList.add("current");
      else if (unread[d.room]) li.classList.add("unread");
      li.addEventListener("click", function () { openRoom(d.room); });
      dl.appendChild(li);
    });
  }

  function markUnread(room) {
    var li = document.querySelector('#dms li[data-room="' + room + '"]');
    if (li && room !== current) li.classList.add("unread");
  }

  function title(room) {
    if (room.indexOf("dm:") !== 0) return "#" + room;
    var parts = room.split(":");
    return "@" + (parts[1] === user ? parts[2] : parts[1]);
  }

  function openRoom(room) {
    if (!room) return;
    current = room;
    localStorage.setItem("eventflux-chat-room", room);
    history.replaceState(null, "", "#" + encodeURIComponent(room));
    $("room-title").textContent = title(room);
    $("room-leave").hidden = room.indexOf("dm:") === 0;
    $("message-text").disabled = false;
    $("message-send").disabled = false;
    Array.prototype.forEach.call(document.querySelectorAll("#rooms li, #dms li"), function (li) {
      li.classList.toggle("current", li.getAttribute("data-room") === room);
      if (li.getAttribute("data-room") === room) li.classList.remove("unread");
    });
    var s = rooms[room];
    if (s && s.joined) send({op: "join", room: room, after: s.last});
    else send({op: "join", room: room});
    state(room).joined = true;
    renderTimeline();
    renderPresence(room, state(room).presence, true);
  }

  function renderTimeline() {
    var s = state(current);
    var ol = $("messages");
    var atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 20;
    ol.textContent = "";
    var edits = {}, deleted = {};
    Object.keys(s.events).forEach(function (v) {
      var e = s.events[v];
      if (e.type === "MessageEdited") edits[e.target] = e.text;
      if (e.type === "MessageDeleted") deleted[e.target] = true;
    });
    Object.keys(s.events).map(Number).sort(function (a, b) { return a - b; }).forEach(function (v) {
      var item = s.events[v];
      if (item.type === "MessageEdited" || item.type === "MessageDeleted") return;
      appendItem(item, false, edits[v], deleted[v]);
    });
    $("older").hidden = !s.more;
    if (atEnd) ol.scrollTop = ol.scrollHeight;
  }

  function appendItem(item, live, edited, gone) {
    var ol = $("messages");
    var li;
    if (item.type === "MessagePosted") {
      li = el("li", null, "message" + (gone ? " deleted" : ""));
      li.appendChild(el("span", item.user, "who"));
      li.appendChild(el("span", gone ? "message deleted" : (edited !== undefined ? edited : item.text), "text"));
      if (edited !== undefined && !gone) li.appendChild(el("span", "(edited)", "edited"));
      li.appendChild(el("span", (item.at || "").slice(11, 19), "when"));
      if (item.user === user && !gone) {
        var actions = el("span", null, "actions");
        var edit = el("button", "edit");
        edit.type = "button";
        edit.addEventListener("click", function () {
          var text = prompt("Edit your message", edited !== undefined ? edited : item.text);
          if (text) send({op: "edit", room: current, version: item.version, text: text, cid: cid()});
        });
        var del = el("button", "delete");
        del.type = "button";
        del.addEventListener("click", function () {
          if (confirm("Delete this message?")) send({op: "delete", room: current, version: item.version, cid: cid()});
        });
        actions.appendChild(edit);
        actions.appendChild(del);
        li.appendChild(actions);
      }
    } else {
      var what = {RoomCreated: " created the room", MemberJoined: " joined", MemberLeft: " left"}[item.type];
      if (!what) return;
      li = el("li", item.user + what, "system");
    }
    li.setAttribute("data-version", item.version);
    ol.appendChild(li);
    if (live) ol.scrollTop = ol.scrollHeight;
  }

  function renderPresence(room, members, whole) {
    if (whole) state(room).presence = Object.assign({}, members);
    if (room !== current) return;
    var ul = $("presence");
    ul.textContent = "";
    var all = state(room).presence;
    Object.keys(all).sort().forEach(function (name) {
      var li = el("li", name + (all[name] === "away" ? " (away)" : ""));
      li.setAttribute("data-user", name);
      li.setAttribute("data-state", all[name]);
      ul.appendChild(li);
    });
  }

  function diffPresence(f) {
    var p = state(f.room).presence;
    Object.keys(f.joins).forEach(function (name) { p[name] = f.joins[name]; });
    f.leaves.forEach(function (name) { delete p[name]; });
    renderPresence(f.room, p, false);
  }

  function typing(f) {
    if (f.room !== current) return;
    clearTimeout(typingShown[f.user]);
    typingShown[f.user] = setTimeout(function () { delete typingShown[f.user]; showTyping(); }, 4000);
    showTyping();
  }

  function showTyping() {
    var names = Object.keys(typingShown);
    $("typing").textContent = names.length ? names.join(", ") + (names.length > 1 ? " are" : " is") + " typing…" : "";
  }

  function showPending() {
    var n = Object.keys(pending).length;
    $("pending").textContent = n ? n + " message" + (n > 1 ? "s" : "") + " waiting for the server…" : "";
  }

  // -- what the user does --------------------------------------------------------------------
  $("chat-login").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = $("chat-user").value.trim();
    if (!NAME.test(name)) { error("a name is lowercase letters, digits, - and _"); return; }
    user = name;
    error("");
    connect();
  });

  $("message-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("message-text").value.trim();
    if (!text || !current) return;
    var id = cid();
    pending[id] = {room: current, text: text, sent: Date.now()};
    send({op: "send", room: current, text: text, cid: id});
    $("message-text").value = "";
    showPending();
  });

  $("message-text").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("message-send").click(); return; }
    var now = Date.now();
    if (current && now - typingAt > 2000) { typingAt = now; send({op: "typing", room: current}); }
  });

  $("room-create").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = $("room-name").value.trim();
    if (!NAME.test(name)) { error("a room name is lowercase letters, digits, - and _"); return; }
    send({op: "create", room: name});
    $("room-name").value = "";
  });

  $("dm-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = $("dm-user").value.trim();
    if (!NAME.test(name) || name === user) { error("name another user"); return; }
    send({op: "dm", with: name});
    $("dm-user").value = "";
  });

  $("room-leave").addEventListener("click", function () {
    if (!current) return;
    send({op: "leave", room: current});
    delete rooms[current];
    current = "";
    localStorage.removeItem("eventflux-chat-room");
    $("room-title").textContent = "pick a room";
    $("messages").textContent = "";
    $("presence").textContent = "";
    send({op: "rooms"});
  });

  $("older").addEventListener("click", function () {
    var s = state(current);
    if (s.oldest) send({op: "history", room: current, before: s.oldest});
  });

  connect();
})();
