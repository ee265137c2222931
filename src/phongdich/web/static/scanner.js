/* The staff scanner: personal QR codes from the camera (jsQR) or a keyboard-wedge reader.
   Every scan is put in a queue in localStorage first, then sent in batches to
   POST /api/v1/visits/scans; a scan leaves the queue only once the server has answered for it,
   so scans made offline are sent, with their own time, when the network is back. */
(() => {
  "use strict";
  const configNode = document.getElementById("scanner-config");
  if (!configNode) return;
  const cfg = JSON.parse(configNode.textContent);
  const S = cfg.strings;
  const QUEUE_KEY = "pd.scanQueue.v1";
  const ENTRANCE_KEY = "pd.scan.entrance." + cfg.checkpointId;
  const MODE_KEY = "pd.scan.mode";
  const CAMERA_KEY = "pd.scan.camera";
  const KINDS = { check_in: "in", check_out: "out", duplicate: "warn", offer_check_out: "warn" };

  const $ = (id) => document.getElementById(id);
  const banner = $("banner"), bannerMessage = $("banner-message"), bannerPerson = $("banner-person");
  const pending = $("pending"), recent = $("recent"), entrance = $("entrance");
  const reader = $("reader"), video = $("video"), canvas = $("frame"), cameraButton = $("camera-toggle");

  // Storage (falls back to memory when localStorage is unavailable) ---------------------------
  const load = (key) => { try { return localStorage.getItem(key); } catch (e) { return null; } };
  const save = (key, value) => { try { localStorage.setItem(key, value); } catch (e) { /* memory only */ } };
  let memoryQueue = [];
  function readQueue() {
    const raw = load(QUEUE_KEY);
    if (raw === null) return memoryQueue.slice();
    try { const q = JSON.parse(raw); return Array.isArray(q) ? q : []; } catch (e) { return []; }
  }
  function writeQueue(queue) {
    memoryQueue = queue;
    save(QUEUE_KEY, JSON.stringify(queue));
    showPending(queue.length);
  }
  function showPending(n) {
    pending.textContent = S.pending.replace("{n}", n);
    pending.classList.toggle("waiting", n > 0);
  }

  // Ids and times -------------------------------------------------------------------------------
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }
  const pad = (n, width) => String(n).padStart(width || 2, "0");
  function localIso(d) {
    const off = -d.getTimezoneOffset(), abs = Math.abs(off);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      "." + pad(d.getMilliseconds(), 3) + (off < 0 ? "-" : "+") + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }
  const clock = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());

  // Feedback ----------------------------------------------------------------------------------
  let audio = null;
  function beep(kind) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      const osc = audio.createOscillator(), gain = audio.createGain();
      const bad = kind === "error";
      osc.type = bad ? "square" : "sine";
      osc.frequency.value = bad ? 220 : kind === "warn" ? 660 : kind === "wait" ? 440 : 1320;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + (bad ? 0.4 : 0.12));
    } catch (e) { /* no sound on this device */ }
    if (kind === "error" && navigator.vibrate) navigator.vibrate(300);
  }
  function show(kind, message, person, health) {
    banner.className = "banner " + (kind || "");
    bannerMessage.textContent = message;
    // The person's health colour from their QR: the guard acts on yellow and red.
    bannerPerson.textContent = (health ? "● " + (S["health_" + health] || health) + " · " : "") + (person || "");
    bannerPerson.className = "person" + (health ? " health-" + health : "");
  }
  function remember(item, result) {
    const li = document.createElement("li");
    li.textContent = clock(new Date(item.at)) + " · " + (result.health ? (S["health_" + result.health] || "") + " · " : "") + (result.person ? result.person + " · " : "") + result.message;
    if (!result.ok) li.className = "bad";
    recent.insertBefore(li, recent.firstChild);
    while (recent.children.length > 10) recent.removeChild(recent.lastChild);
  }

  // Sending -------------------------------------------------------------------------------------
  let current = null; // the id of the newest scan: its answer goes to the banner
  let flushing = false, again = false;
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)pd_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : cfg.csrf;
  }
  function problem(message) {
    // The whole request failed (not the network): keep the scans, say why if one is waiting.
    if (current && readQueue().some((i) => i.id === current)) { show("error", message); beep("error"); }
  }
  async function send(batch) {
    // A stalled mobile connection must not block the queue: give up after a while (resending
    // is safe, the server knows each scan by its id).
    const abort = window.AbortController ? new AbortController() : null;
    const timeout = setTimeout(() => abort && abort.abort(), cfg.timeoutMs);
    let res;
    try {
      res = await fetch(cfg.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ scans: batch }),
        signal: abort ? abort.signal : undefined,
      });
    } catch (e) {
      // Offline: the scans stay queued.
      if (batch.some((i) => i.id === current)) { show("wait", S.queued); beep("wait"); current = null; }
      return false;
    } finally {
      clearTimeout(timeout);
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    const answered = {};
    if (res.ok && data && Array.isArray(data.results)) {
      for (const r of data.results) {
        if (r.ok || (r.status >= 400 && r.status < 500)) answered[String(r.id).toLowerCase()] = r;
      }
    } else if (res.status === 422 && data && Array.isArray(data.fields)) {
      // A malformed scan refuses the whole batch: drop the scans the server points at.
      for (const f of data.fields) {
        const m = /^body\.scans\.(\d+)\./.exec(f.field || "");
        const item = m && batch[Number(m[1])];
        if (item) answered[item.id] = { ok: false, status: 422, message: data.message };
      }
      if (!Object.keys(answered).length) { problem(data.message || S.server_error); return false; }
    } else {
      problem(res.status === 401 ? S.signed_out : (data && data.message) || S.server_error);
      return false;
    }
    writeQueue(readQueue().filter((i) => !answered[i.id]));
    for (const item of batch) {
      const r = answered[item.id];
      if (!r) continue;
      remember(item, r);
      if (item.id === current) {
        show(r.ok ? KINDS[r.action] || "in" : "error", r.message, r.person, r.health);
        beep(!r.ok ? "error" : KINDS[r.action] === "warn" ? "warn" : "ok");
        current = null;
      }
    }
    return Object.keys(answered).length > 0;
  }
  async function flush() {
    if (flushing) { again = true; return; }
    flushing = true;
    try {
      for (;;) {
        const batch = readQueue().slice(0, cfg.batch);
        if (!batch.length || !(await send(batch))) break;
      }
    } finally {
      flushing = false;
    }
    if (again) { again = false; flush(); }
  }

  // Scanning ----------------------------------------------------------------------------------
  let lastCode = "", lastSeen = 0;
  function mode() {
    const checked = document.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "auto";
  }
  function scan(raw, method) {
    const code = String(raw || "").trim();
    if (!code) return;
    if (method === "staff_scan") {
      // The camera sees the same code many times while it is held up: it is one scan until
      // the code has been out of sight for a few seconds.
      const now = Date.now(), same = code === lastCode && now - lastSeen < cfg.rescanMs;
      lastCode = code;
      lastSeen = now;
      if (same) return;
    }
    if (code.length > 200) { show("error", S.too_long); beep("error"); return; }
    const entranceId = parseInt(entrance.value, 10);
    if (!entranceId) { show("error", S.no_entrance); beep("error"); return; }
    const item = {
      id: uuid(), entrance_id: entranceId, person_token: code,
      direction: mode(), at: localIso(new Date()), method: method,
    };
    const queue = readQueue();
    queue.push(item);
    writeQueue(queue); // persisted before anything is sent
    current = item.id;
    show("wait", S.sending);
    flush();
  }

  // Camera --------------------------------------------------------------------------------------
  let stream = null, timer = 0, ctx = null;
  function loadDecoder() {
    if (window.jsQR) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = cfg.jsqr;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  async function startCamera() {
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no camera");
      await loadDecoder();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      save(CAMERA_KEY, "0");
      show("error", S.camera_error);
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    try { await video.play(); } catch (e) { /* autoplay of a muted video is allowed */ }
    cameraButton.textContent = S.camera_off;
    save(CAMERA_KEY, "1");
    tick();
  }
  function stopCamera() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    cameraButton.textContent = S.camera_on;
    save(CAMERA_KEY, "0");
    reader.focus();
  }
  function tick() {
    if (!stream) return;
    const w0 = video.videoWidth, h0 = video.videoHeight;
    if (!document.hidden && video.readyState >= 2 && w0 && h0) {
      const scale = Math.min(1, 640 / Math.max(w0, h0)); // small frames: cheap phones decode fast
      const w = Math.round(w0 * scale), h = Math.round(h0 * scale);
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      ctx = ctx || canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(video, 0, 0, w, h);
      const found = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
      if (found && found.data) scan(found.data, "staff_scan");
    }
    timer = setTimeout(tick, cfg.frameMs);
  }

  // Wiring --------------------------------------------------------------------------------------
  const storedEntrance = (load(ENTRANCE_KEY) || "").replace(/\D/g, "");
  if (storedEntrance && entrance.querySelector("option[value='" + storedEntrance + "']")) {
    entrance.value = storedEntrance;
  }
  const refocus = () => { if (!stream) reader.focus(); }; // no phone keyboard over the camera
  entrance.addEventListener("change", () => { save(ENTRANCE_KEY, entrance.value); refocus(); });
  const storedMode = document.querySelector("input[name=mode][value='" + (load(MODE_KEY) || "auto").replace(/\W/g, "") + "']");
  if (storedMode) storedMode.checked = true;
  document.querySelectorAll("input[name=mode]").forEach((input) =>
    input.addEventListener("change", () => { save(MODE_KEY, input.value); refocus(); }));

  $("reader-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = reader.value;
    reader.value = "";
    scan(value, "reader");
    reader.focus();
  });
  // A reader types into whatever has focus: keep it on the input, unless the camera is in use
  // (the phone's keyboard would cover the picture) or another control was chosen.
  reader.addEventListener("blur", () => setTimeout(() => {
    if (!stream && (!document.activeElement || document.activeElement === document.body)) reader.focus();
  }, 200));
  document.addEventListener("keydown", (ev) => {
    if (document.activeElement === document.body && ev.key && ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey) reader.focus();
  });
  cameraButton.addEventListener("click", () => (stream ? stopCamera() : startCamera()));
  window.addEventListener("online", flush);
  window.addEventListener("storage", (ev) => { if (ev.key === QUEUE_KEY) showPending(readQueue().length); });
  setInterval(flush, cfg.flushMs);

  showPending(readQueue().length);
  flush();
  if (load(CAMERA_KEY) === "1") startCamera();
  else reader.focus();
})();
