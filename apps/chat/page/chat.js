// Chat page: sends each line to /ws as a text message and shows every
// frame the server sends back (one JSON object per frame).
"use strict";

(() => {
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const form = document.getElementById("composer");
  const input = document.getElementById("line");
  const send = document.getElementById("send");
  const hint = document.getElementById("hint");
  const encoder = new TextEncoder();

  // Reconnect delays double from the first to the last value.
  const firstRetryDelay = 500;
  const lastRetryDelay = 10000;

  let socket = null;
  let ready = false;
  let maxMessageSize = 0;
  let retryDelay = firstRetryDelay;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function isScrolledDown() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  function append(kind, text) {
    const stayDown = isScrolledDown();
    const item = document.createElement("li");
    item.className = kind;
    const now = new Date();
    const time = document.createElement("time");
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(time, body);
    list.append(item);
    if (stayDown) {
      list.scrollTop = list.scrollHeight;
    }
  }

  function lineSize() {
    return encoder.encode(input.value).length;
  }

  function lineTooLarge() {
    return maxMessageSize > 0 && lineSize() > maxMessageSize;
  }

  function updateControls() {
    input.disabled = !ready;
    send.disabled = !ready || input.value.trim() === "" || lineTooLarge();
    if (lineTooLarge()) {
      hint.textContent = `This message has ${lineSize()} bytes; ` +
        `the maximum is ${maxMessageSize}.`;
    } else {
      hint.textContent = "";
    }
  }

  function handleFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (err) {
      append("notice error", "The server sent a frame that is not JSON.");
      return;
    }
    switch (frame.type) {
      case "ready":
        ready = true;
        maxMessageSize = frame.max_message_size;
        retryDelay = firstRetryDelay;
        setStatus("connected", "Connected");
        updateControls();
        input.focus();
        break;
      case "message":
        append("message", frame.text);
        break;
      case "error":
        append("notice error", frame.reason);
        break;
      case "status":
        if (frame.state === "backend_lost") {
          setStatus("degraded", "Backend unavailable");
        } else if (frame.state === "backend_back") {
          setStatus("connected", "Connected");
          if (frame.events_may_be_lost) {
            append("notice", "The backend is back; messages sent while it " +
              "was away may be missing.");
          }
        }
        break;
      case "skipped":
        append("notice", `${frame.count} messages were skipped because ` +
          "this page fell behind.");
        break;
      default:
        break;
    }
  }

  function handleClose(event) {
    ready = false;
    updateControls();
    // 1000, 1001, 1005 and 1006 are ordinary ends: closed, server
    // stopped, closed without status, network gone. Other codes carry a
    // reason worth showing.
    if (![1000, 1001, 1005, 1006].includes(event.code)) {
      const reason = event.reason ? `: ${event.reason}` : "";
      append("notice error", `Connection closed (${event.code})${reason}`);
    }
    const seconds = Math.max(1, Math.round(retryDelay / 1000));
    setStatus("disconnected", `Disconnected, retrying in ${seconds} s`);
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, lastRetryDelay);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    setStatus("connecting", "Connecting…");
    socket = new WebSocket(`${scheme}//${location.host}/ws`);
    socket.addEventListener("message", (event) => handleFrame(event.data));
    socket.addEventListener("close", handleClose);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!ready || input.value.trim() === "" || lineTooLarge()) {
      return;
    }
    socket.send(input.value);
    input.value = "";
    updateControls();
    input.focus();
  });

  input.addEventListener("input", updateControls);

  connect();
})();
