// Sahayak agent console: live queue, conversation view and dashboard. No framework; the server renders the
// pages and this script keeps them current through the live feed (server-sent events).
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var page = body.getAttribute("data-page");
  if (!csrf) { return; } // the login page

  function api(method, url, payload) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrf;
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload || {});
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { window.location.href = "/console/login"; throw new Error("logged out"); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = data && data.detail;
          var message = detail && detail.message ? detail.message : (typeof detail === "string" ? detail : "HTTP " + response.status);
          var error = new Error(message);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || seconds === "" || isNaN(seconds)) { return "–"; }
    seconds = Math.max(0, Math.round(Number(seconds)));
    if (seconds < 60) { return seconds + " s"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + " min " + (seconds % 60) + " s"; }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // Times come from the server in UTC; show them all in the agent's own time zone.
  function localTime(iso) {
    var at = new Date(iso);
    return isNaN(at.getTime()) ? "" : at.toTimeString().slice(0, 5);
  }
  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (node) {
    node.textContent = localTime(node.getAttribute("datetime"));
  });

  // --- the live feed --------------------------------------------------------------------------------------
  var listeners = [];
  function onChange(listener) { listeners.push(listener); }
  var liveStatus = document.getElementById("live-status");
  if (window.EventSource) {
    var source = new EventSource("/console/api/events");
    source.addEventListener("open", function () { if (liveStatus) { liveStatus.className = "live on"; } });
    source.addEventListener("error", function () { if (liveStatus) { liveStatus.className = "live off"; } });
    source.addEventListener("logged_out", function () { window.location.href = "/console/login"; });
    source.addEventListener("handoff", function (event) {
      var data = JSON.parse(event.data);
      listeners.forEach(function (listener) { listener(data); });
    });
  }

  // --- the queue ------------------------------------------------------------------------------------------
  function renderItem(item) {
    var li = el("li", "queue-item" + (item.mine ? " my-chat" : ""));
    li.setAttribute("data-handoff-id", item.id);
    li.setAttribute("data-language", item.language || "");
    li.setAttribute("data-channel", item.channel);
    li.tabIndex = 0;
    var line = el("div", "line1");
    line.appendChild(el("strong", "lang", item.language_name));
    line.appendChild(el("span", "channel", item.channel_name));
    line.appendChild(el("span", "team", item.team));
    if (item.ticket) { line.appendChild(el("span", "ticket", item.ticket)); }
    if (item.status === "waiting") {
      var wait = el("span", "wait", "waiting");
      wait.setAttribute("data-queued-at", item.queued_at);
      line.appendChild(wait);
    } else {
      line.appendChild(el("span", "agent", item.mine ? "you" : item.agent));
    }
    li.appendChild(line);
    var preview = el("div", "preview", item.last_message);
    preview.dir = "auto";
    li.appendChild(preview);
    if (item.status === "waiting") {
      var take = el("button", "take-button", "Take");
      take.type = "button";
      li.appendChild(take);
    } else {
      var open = el("a", "open-link", "Open");
      open.href = "/console/chats/" + item.id;
      li.appendChild(open);
    }
    return li;
  }

  function fillList(list, items, emptyText) {
    var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".queue-item") : null;
    var focusedId = focused ? focused.getAttribute("data-handoff-id") : null;
    list.textContent = "";
    if (!items.length) { list.appendChild(el("li", "empty", emptyText)); }
    items.forEach(function (item) { list.appendChild(renderItem(item)); });
    if (focusedId) {
      var again = list.querySelector('.queue-item[data-handoff-id="' + focusedId + '"]');
      if (again) { again.focus(); }
    }
  }

  function refreshQueue() {
    return api("GET", "/console/api/queue").then(function (data) {
      var waiting = data.items.filter(function (i) { return i.status === "waiting"; });
      fillList(document.getElementById("queue"), waiting, "Nobody is waiting.");
      fillList(document.getElementById("my-chats"), data.items.filter(function (i) { return i.status === "with_agent"; }), "None.");
      document.getElementById("waiting-count").textContent = String(waiting.length);
      tickWaits();
    });
  }

  function tickWaits() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll(".wait[data-queued-at]"), function (node) {
      var since = Date.parse(node.getAttribute("data-queued-at"));
      if (!isNaN(since)) { node.textContent = "waiting " + duration((now - since) / 1000); }
    });
  }

  function take(id) {
    return api("POST", "/console/api/chats/" + id + "/take").then(function () {
      window.location.href = "/console/chats/" + id;
    }, function (error) {
      window.alert(error.status === 409 ? "Someone else has taken this chat." : error.message);
      if (page === "queue") { refreshQueue(); } else { window.location.reload(); }
    });
  }

  if (page === "queue") {
    var queuePage = document.querySelector(".queue-page");
    queuePage.addEventListener("click", function (event) {
      var button = event.target.closest(".take-button");
      if (button) { take(button.closest(".queue-item").getAttribute("data-handoff-id")); }
    });
    queuePage.addEventListener("keydown", function (event) {
      var item = event.target.closest ? event.target.closest(".queue-item") : null;
      if (!item) { return; }
      var items = Array.prototype.slice.call(document.querySelectorAll(".queue-item"));
      var index = items.indexOf(item);
      if (event.key === "ArrowDown" && index < items.length - 1) { items[index + 1].focus(); event.preventDefault(); }
      if (event.key === "ArrowUp" && index > 0) { items[index - 1].focus(); event.preventDefault(); }
      if (event.key === "Enter" && event.target === item) {
        var button = item.querySelector(".take-button");
        if (button) { take(item.getAttribute("data-handoff-id")); } else { window.location.href = "/console/chats/" + item.getAttribute("data-handoff-id"); }
      }
    });
    onChange(function () { refreshQueue(); });
    setInterval(tickWaits, 1000);
    tickWaits();
    var first = document.querySelector("#queue .queue-item");
    if (first) { first.focus(); }
  }

  // --- a conversation -------------------------------------------------------------------------------------
  if (page === "chat") {
    var chat = document.getElementById("chat");
    var chatId = chat.getAttribute("data-handoff-id");
    var history = document.getElementById("history");
    var lastFeedId = parseInt(chat.getAttribute("data-last-feed-id"), 10) || 0;
    var replyText = document.getElementById("reply-text");
    var translationStatus = document.getElementById("translation-status");
    var actionError = document.getElementById("action-error");
    var labels = { customer: "Customer", bot: "Bot", agent: "Agent", note: "Note", system: "" };

    var showNote = function (note) {
      if (note) { translationStatus.textContent = note; translationStatus.hidden = false; }
    };
    var showError = function (message) { actionError.textContent = message; actionError.hidden = !message; };

    var appendEntry = function (entry) {
      if (entry.feed_id && history.querySelector('[data-feed-id="' + entry.feed_id + '"]')) { return; }
      if (entry.kind === "customer" && entry.message_id && history.querySelector('[data-message-id="' + entry.message_id + '"]')) { return; }
      var li = el("li", "message " + entry.kind);
      li.setAttribute("data-kind", entry.kind);
      if (entry.feed_id) { li.setAttribute("data-feed-id", entry.feed_id); }
      if (entry.message_id) { li.setAttribute("data-message-id", entry.message_id); }
      var meta = el("div", "meta");
      var who = entry.kind === "agent" ? (entry.author || "Agent") : entry.kind === "note" ? "Note · " + (entry.author || "") : labels[entry.kind];
      meta.appendChild(el("span", "who", who + " "));
      var time = el("time", null, localTime(entry.at));
      time.setAttribute("datetime", entry.at);
      meta.appendChild(time);
      if (entry.language) { meta.appendChild(el("span", "lang", " " + entry.language)); }
      li.appendChild(meta);
      var original = el("div", "original", entry.text);
      original.dir = "auto";
      li.appendChild(original);
      if (entry.translation) {
        var translation = el("div", "translation", entry.translation);
        translation.dir = "auto";
        li.appendChild(translation);
      }
      history.appendChild(li);
      if (entry.feed_id) { lastFeedId = Math.max(lastFeedId, entry.feed_id); }
      li.scrollIntoView({ block: "end" });
    };

    var setStatus = function (summary) {
      chat.setAttribute("data-status", summary.status);
      chat.setAttribute("data-mine", summary.mine ? "true" : "false");
      document.getElementById("chat-team").textContent = summary.team;
      var text = summary.status === "waiting" ? "waiting" : summary.status === "with_agent"
        ? "with " + (summary.mine ? "you" : summary.agent) : "ended (" + summary.outcome + ")";
      document.getElementById("chat-status").textContent = text;
      var takeButton = document.getElementById("take-button");
      if (takeButton && summary.status !== "waiting") { takeButton.remove(); }
    };

    var fetchNew = function () {
      return api("GET", "/console/api/chats/" + chatId + "/messages?after=" + lastFeedId).then(function (data) {
        data.entries.forEach(appendEntry);
        setStatus(data.chat);
        showNote(data.translation_note);
      });
    };

    onChange(function (change) { if (String(change.chat_id) === chatId) { fetchNew(); } });

    var act = function (name, payload) {
      showError("");
      return api("POST", "/console/api/chats/" + chatId + "/" + name, payload).then(function (data) {
        if (data.entry) { appendEntry(data.entry); }
        if (data.chat) { setStatus(data.chat); }
        showNote(data.translation_note);
        return data;
      }, function (error) { showError(error.message); throw error; });
    };

    var sendReply = function () {
      var text = replyText.value.trim();
      if (!text) { return; }
      act("reply", { text: text }).then(function () { replyText.value = ""; replyText.focus(); }, function () {});
    };
    var sendNote = function () {
      var text = replyText.value.trim();
      if (!text) { return; }
      act("note", { text: text }).then(function () { replyText.value = ""; replyText.focus(); }, function () {});
    };

    document.getElementById("composer").addEventListener("submit", function (event) { event.preventDefault(); sendReply(); });
    document.getElementById("send-note").addEventListener("click", sendNote);
    replyText.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); sendReply(); }
      if (event.key === "Enter" && event.altKey) { event.preventDefault(); sendNote(); }
    });
    var takeButton = document.getElementById("take-button");
    if (takeButton) { takeButton.addEventListener("click", function () { act("take").then(function () { replyText.focus(); }, function () {}); }); }
    document.getElementById("transfer-button").addEventListener("click", function () {
      var colleague = document.getElementById("transfer-agent").value;
      act("transfer", { team: document.getElementById("transfer-team").value, agent: colleague || null }).then(function () {
        window.location.href = "/console";
      }, function () {});
    });
    document.getElementById("return-button").addEventListener("click", function () { act("return").catch(function () {}); });
    document.getElementById("close-button").addEventListener("click", function () {
      if (window.confirm("Close the chat and its ticket? The customer is asked to rate the help.")) { act("close").catch(function () {}); }
    });
    var lastMessage = history.lastElementChild;
    if (lastMessage) { lastMessage.scrollIntoView({ block: "end" }); }
    if (chat.getAttribute("data-mine") === "true") { replyText.focus(); }
  }

  // --- the dashboard --------------------------------------------------------------------------------------
  if (page === "dashboard") {
    var paint = function (metrics) {
      Array.prototype.forEach.call(document.querySelectorAll("[data-metric]"), function (node) {
        var name = node.getAttribute("data-metric");
        var value = metrics ? metrics[name] : node.getAttribute("data-seconds");
        if (/_seconds$/.test(name)) { node.textContent = duration(value); }
        else if (metrics) { node.textContent = value === null ? "–" : String(value); }
      });
    };
    paint(null);
    onChange(function () { api("GET", "/console/api/dashboard").then(paint); });
  }
})();
