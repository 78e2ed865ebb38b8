// hailong web chat: sends each message to /api/v1/chat and shows the replies it gets back.
// No framework, no build step. All wording comes from the server's catalogue (#ui-text).
"use strict";
(function () {
  const ui = JSON.parse(document.getElementById("ui-text").textContent);
  const ID_RE = /^[A-Za-z0-9_-]{16,64}$/;
  const SESSION_KEY = "hailong.session";
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  const statusBox = document.getElementById("status");
  const statusText = document.getElementById("status-text");
  const retryButton = document.getElementById("retry");
  const photoInput = document.getElementById("photo");
  const attachButton = document.getElementById("attach");

  // localStorage can be unavailable (private mode, disabled storage): fall back to memory.
  const store = (function () {
    try {
      localStorage.setItem("hailong.probe", "1");
      localStorage.removeItem("hailong.probe");
      return localStorage;
    } catch (e) {
      const memory = new Map();
      return { getItem: (k) => (memory.has(k) ? memory.get(k) : null), setItem: (k, v) => memory.set(k, v) };
    }
  })();

  // crypto.getRandomValues works on plain http too (randomUUID needs a secure context).
  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let sessionId = store.getItem(SESSION_KEY);
  if (!sessionId || !ID_RE.test(sessionId)) {
    sessionId = randomId();
    store.setItem(SESSION_KEY, sessionId);
  }
  let after = 0; // id of the last reply shown: the server sends everything after it
  let busy = false;
  let clicked = false; // the last message was a button: move focus to the next buttons

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function speaker(name) {
    const span = document.createElement("span");
    span.className = "who";
    span.textContent = name + ": ";
    return span;
  }

  function addMine(text) {
    const p = document.createElement("p");
    p.className = "msg me";
    p.append(speaker(ui.WEB_YOU), text);
    log.append(p);
    scrollDown();
  }

  function disableButtons() {
    log.querySelectorAll(".buttons button").forEach((b) => { b.disabled = true; });
  }

  const CHOSEN_MARK = "\u2713 "; // bot.engine.types.CHOSEN_MARK: an option already chosen

  // The buttons carry the options' numbers: the text's numbered list of them is not
  // repeated above them (bot.engine.types.listed_once).
  function listedOnce(text, buttons) {
    const shown = new Set(buttons.map((b) => b.label.replace(CHOSEN_MARK, "")));
    return text.split("\n").filter((line) => !shown.has(line)).join("\n");
  }

  function addReply(message) {
    const div = document.createElement("div");
    div.className = "msg bot";
    div.dataset.id = String(message.id);
    div.append(speaker(ui.WEB_BOT_NAME), message.buttons.length ? listedOnce(message.text, message.buttons) : message.text);
    // A multiple-choice question (it has a «Xong», payload "d:…"): a tap marks an option,
    // and the question comes back with its marks, in place of this one (see show()).
    const multi = message.buttons.some((b) => b.payload.startsWith("d:"));
    if (message.buttons.length) {
      const group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      div.dataset.payloads = message.buttons.map((b) => b.payload).join("\n");
      for (const b of message.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.label;
        button.addEventListener("click", () => {
          if (busy || button.disabled) return;
          button.classList.add("chosen");
          clicked = true;
          const marking = multi && !b.payload.startsWith("d:");
          send({ choice: b.payload }, marking ? null : b.label.replace(CHOSEN_MARK, ""));
        });
        group.append(button);
      }
      div.append(group);
    }
    const last = log.lastElementChild;
    if (multi && last && last.classList.contains("bot") && last.dataset.payloads === div.dataset.payloads) {
      last.replaceWith(div); // the same question re-marked: one message, not one per tap
    } else {
      log.append(div);
    }
  }

  function show(messages) {
    const fresh = messages.filter((m) => m.id > after); // a re-sent reply is shown once
    if (!fresh.length) return;
    disableButtons(); // only the newest question's buttons stay active
    for (const m of fresh) {
      addReply(m);
      after = Math.max(after, m.id);
    }
    scrollDown();
    if (clicked) {
      const next = log.querySelector(".msg.bot:last-child .buttons button:not(:disabled)");
      if (next) next.focus({ preventScroll: true });
    }
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    sendButton.textContent = value ? ui.WEB_SENDING : ui.WEB_SEND;
    if (value) disableButtons();
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // Retries keep the same message_id, so the server processes the message once.
  async function deliver(body, path) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        body.after = after;
        const response = await fetch(path || "/api/v1/chat", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (response.ok) {
          const data = await response.json();
          statusBox.hidden = true;
          setBusy(false);
          show(data.messages);
          return;
        }
        if (response.status === 413 || response.status === 415) {
          setBusy(false);
          statusText.textContent = ui.WEB_PHOTO_REFUSED;
          retryButton.hidden = true;
          statusBox.hidden = false;
          return;
        }
        if (response.status < 500 && response.status !== 429) break; // retrying will not help
      } catch (e) {
        // network error: retry below
      }
      await sleep(400 * 2 ** attempt);
    }
    statusText.textContent = ui.WEB_ERROR;
    retryButton.hidden = false;
    retryButton.onclick = () => {
      retryButton.hidden = true;
      deliver(body, path);
    };
    statusBox.hidden = false;
  }

  function send(payload, shown) {
    if (busy) return Promise.resolve();
    setBusy(true);
    if (shown !== null) addMine(shown);
    return deliver(Object.assign({ session_id: sessionId, message_id: randomId() }, payload));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    clicked = false;
    send({ text: text }, text);
  });

  // A photo for a complaint: read as a data URL, checked again by the server.
  attachButton.addEventListener("click", () => {
    if (!busy) photoInput.click();
  });
  photoInput.addEventListener("change", () => {
    const file = photoInput.files && photoInput.files[0];
    photoInput.value = "";
    if (!file || busy) return;
    const reader = new FileReader();
    reader.onload = () => {
      setBusy(true);
      addMine(ui.WEB_PHOTO_SENT);
      const body = { session_id: sessionId, message_id: randomId(), image: String(reader.result) };
      deliver(body, "/api/v1/chat/photo");
    };
    reader.readAsDataURL(file);
  });

  // A unit's answer or question arrives later: look for new messages now and then.
  async function poll() {
    if (busy || document.visibilityState !== "visible") return;
    try {
      const url = "/api/v1/chat/messages?session_id=" + encodeURIComponent(sessionId) + "&after=" + after;
      const response = await fetch(url);
      if (response.ok && !busy) show((await response.json()).messages);
    } catch (e) {
      // offline for now: the next poll tries again
    }
  }
  setInterval(poll, 15000);

  async function boot() {
    const token = new URLSearchParams(location.search).get("d");
    // Drop ?d= from the address bar: a reload must not start the dossier again.
    if (token !== null) history.replaceState(null, "", location.pathname);
    try {
      const url = "/api/v1/chat/messages?session_id=" + encodeURIComponent(sessionId) + "&after=0";
      const response = await fetch(url);
      if (response.ok) show((await response.json()).messages);
    } catch (e) {
      // no history shown; the first message below reports the network error
    }
    if (token) await send({ text: "/start " + token.slice(0, 100) }, null);
    else if (after === 0) await send({ text: "/start" }, null);
  }

  boot();
})();
