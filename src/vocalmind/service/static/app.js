// vocalmind web page: plain JavaScript over the JSON API (cookie session).
// Text from the server is always inserted with textContent, never as HTML.
"use strict";

const vm = (() => {
  const $ = (id) => document.getElementById(id);

  async function api(path, options = {}) {
    const r = await fetch(path, { credentials: "same-origin", ...options });
    if (r.status === 401 && !path.startsWith("/api/auth/login")) {
      window.location = "/login";
      throw new Error("not logged in");
    }
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
    if (!r.ok) {
      const d = body && body.detail;
      throw new Error(typeof d === "string" ? d : JSON.stringify(d));
    }
    return body;
  }
  const postJSON = (path, data) => api(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });

  function el(tag, text, attrs = {}) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function fill(select, items, value, label) {
    const keep = select.value;
    select.replaceChildren(...items.map((it) => el("option", label(it), { value: value(it) })));
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  }
  function table(tableEl, columns, rows) {
    const head = el("tr");
    columns.forEach(([, title]) => head.append(el("th", title)));
    const body = rows.map((r) => {
      const tr = el("tr");
      columns.forEach(([key, , fmt]) => tr.append(el("td", fmt ? fmt(r[key], r) : r[key])));
      return tr;
    });
    tableEl.replaceChildren(head, ...body);
  }
  const num = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

  async function header() {
    const me = await api("/api/auth/me");
    $("whoami").textContent = me.username;
    const out = $("logout");
    if (out) out.onclick = async () => { await api("/api/auth/logout", { method: "POST" }); window.location = "/login"; };
    return me;
  }

  // ------------------------------------------------------------------ login
  function loginPage() {
    $("login-form").onsubmit = async (ev) => {
      ev.preventDefault();
      try {
        await postJSON("/api/auth/login", { username: $("username").value, password: $("password").value });
        window.location = "/";
      } catch (e) { $("login-error").textContent = e.message; }
    };
  }

  // ------------------------------------------------------------------ assessment view
  function renderAssessment(a) {
    $("assessment").hidden = false;
    $("assessment-id").textContent = `#${a.id}`;
    $("assessment-status").textContent = a.status;
    const box = $("assessment-body");
    box.replaceChildren();
    if (a.status === "failed") { box.append(el("p", a.error, { class: "error" })); return; }
    if (a.status !== "done") { box.append(el("p", "queued for the worker; this page updates by itself")); return; }
    const r = a.result;
    box.append(el("p", `${r.label} (${r.model}, trained on ${r.trained_on}): ${r.prediction}`, { id: "prediction" }));
    if (r.probabilities) {
      const t = el("table", null, { id: "probabilities" });
      table(t, [["cls", "class"], ["p", "probability", (p) => num(p, 2)]],
        Object.entries(r.probabilities).map(([cls, p]) => ({ cls, p })));
      box.append(el("h3", "Probabilities"), t);
    }
    if (r.clinical) {
      const c = r.clinical;
      box.append(el("h3", `${c.scale.toUpperCase()}`));
      let text = `band: ${c.band}`;
      if (c.score !== undefined) text += `, score ${num(c.score, 1)}`;
      if (c.interval) text += ` (${Math.round(c.interval_level * 100)} % interval ${num(c.interval[0], 1)}–${num(c.interval[1], 1)}: ${c.interval_bands.join(" to ")})`;
      if (c.probability_of_band !== undefined) text += ` (probability ${num(c.probability_of_band, 2)})`;
      box.append(el("p", text, { class: "band", id: "clinical" }));
    }
    if (r.markers) {
      const t = el("table", null, { id: "markers" });
      table(t, [["label", "voice marker"], ["value", "value", (v, row) => `${num(v, 3)} ${row.unit}`],
        ["base", "earlier sessions (mean ± SD, n)", (b) => (!b ? "no earlier session" : b.sd === null ? `${num(b.mean, 3)} (n=1)` : `${num(b.mean, 3)} ± ${num(b.sd, 3)} (n=${b.n_sessions})`)],
        ["z", "z vs earlier", (z) => num(z, 2)]],
      Object.values(r.markers).map((m) => ({ ...m, base: m.baseline })));
      box.append(el("h3", "Clinical voice markers"), t);
    } else if (r.markers_error) {
      box.append(el("p", `voice markers not available: ${r.markers_error}`));
    }
    box.append(el("p", r.disclaimer, { class: "disclaimer" }));
  }

  async function poll(id) {
    for (;;) {
      const a = await api(`/api/assessments/${id}`);
      renderAssessment(a);
      if (a.status === "done" || a.status === "failed") return a;
      await new Promise((res) => setTimeout(res, 700));
    }
  }

  // ------------------------------------------------------------------ index page
  async function indexPage() {
    const me = await header();
    fill($("study"), me.studies, (s) => s.id, (s) => `${s.code} (${s.role})`);
    const models = await api("/api/models");
    fill($("model"), models, (m) => m.id, (m) => `#${m.id} ${m.label}: ${m.model} on ${m.corpus}`);

    async function loadParticipants() {
      if (!$("study").value) return;
      const ps = await api(`/api/studies/${$("study").value}/participants`);
      fill($("participant"), ps, (p) => p.id, (p) => p.code);
      await loadSessions();
    }
    async function loadSessions() {
      const pid = $("participant").value;
      $("participant-link").href = pid ? `/participants/${pid}` : "#";
      const ss = pid ? await api(`/api/participants/${pid}/sessions`) : [];
      fill($("session"), [{ id: "", label: "new session" }, ...ss], (s) => s.id, (s) => s.label);
    }
    $("study").onchange = loadParticipants;
    $("participant").onchange = loadSessions;
    $("add-participant").onclick = async () => {
      try {
        const p = await postJSON(`/api/studies/${$("study").value}/participants`, { code: $("new-code").value });
        await loadParticipants();
        $("participant").value = p.id;
        await loadSessions();
        $("upload-error").textContent = "";
      } catch (e) { $("upload-error").textContent = e.message; }
    };

    async function send(blob, name) {
      $("upload-error").textContent = "";
      const form = new FormData();
      form.append("file", blob, name);
      form.append("participant_id", $("participant").value);
      if ($("session").value) form.append("session_id", $("session").value);
      if ($("model").value) form.append("model_id", $("model").value);
      try {
        const res = await api("/api/recordings", { method: "POST", body: form });
        renderAssessment(res.assessment);
        await loadSessions();
        await poll(res.assessment.id);
      } catch (e) { $("upload-error").textContent = e.message; }
    }
    $("upload").onclick = () => {
      const f = $("file").files[0];
      if (!f) { $("upload-error").textContent = "choose a file first"; return; }
      send(f, f.name);
    };

    let recorder = null;
    $("record").onclick = async () => {
      if (recorder) { recorder.stop(); return; }
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        const chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.ondataavailable = (e) => chunks.push(e.data);
        recorder.onstop = () => {
          stream.getTracks().forEach((t) => t.stop());
          $("record").textContent = "Record";
          $("record-state").textContent = "";
          const type = recorder.mimeType || "audio/webm";
          recorder = null;
          send(new Blob(chunks, { type }), type.includes("ogg") ? "recording.ogg" : "recording.webm");
        };
        recorder.start();
        $("record").textContent = "Stop and assess";
        $("record-state").textContent = "recording…";
      } catch (e) { $("upload-error").textContent = `cannot record: ${e.message}`; }
    };
    await loadParticipants();
  }

  // ------------------------------------------------------------------ participant page
  async function participantPage(pid) {
    await header();
    const models = await api("/api/models");
    fill($("model"), [{ id: "", label: "(markers only)" }, ...models], (m) => m.id,
      (m) => (m.id === "" ? m.label : `#${m.id} ${m.label}: ${m.model}`));
    if (models.length) $("model").value = models[0].id;
    let chart = null;
    let data = null;

    function draw() {
      const key = $("value").value;
      const labels = data.sessions.map((s) => s.session_label);
      const values = data.sessions.map((s) => s[key] ?? null);
      if (chart) chart.destroy();
      chart = new Chart($("trend-chart"), {
        type: "line",
        data: { labels, datasets: [{ label: key, data: values, spanGaps: true, borderColor: "#4a78c2", tension: 0.1 }] },
        options: { maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: "session" } } } },
      });
    }
    async function load() {
      const q = $("model").value ? `?model_id=${$("model").value}` : "";
      data = await api(`/api/participants/${pid}/trend${q}`);
      $("participant-code").textContent = data.participant.code;
      const keys = [...new Set(data.sessions.flatMap((s) => Object.keys(s)))]
        .filter((k) => !["session_index", "session_label"].includes(k));
      fill($("value"), keys, (k) => k, (k) => k);
      table($("sessions-table"), [["session_label", "session"], ...keys.map((k) => [k, k, (v) => num(v, 3)])], data.sessions);
      const st = data.study_statistics;
      $("stats-note").textContent = st.note || `${st.n_participants} participants with 2 or more sessions`;
      table($("prepost-table"), [["feature", "value"], ["n", "n"], ["mean_before", "first", (v) => num(v)],
        ["mean_after", "last", (v) => num(v)], ["test", "test"], ["p", "p", (v) => num(v, 4)],
        ["p_fdr", "p (FDR)", (v) => num(v, 4)], ["effect_size", "effect", (v) => num(v, 2)],
        ["effect_type", "effect type"]], st.paired_change || []);
      table($("trend-table"), [["value", "value"], ["n_subjects", "participants"], ["slope", "slope / session", (v) => num(v, 4)],
        ["p", "p", (v) => num(v, 4)], ["p_fdr", "p (FDR)", (v) => num(v, 4)]], st.session_trend || []);
      if (keys.length) draw();
    }
    $("model").onchange = load;
    $("value").onchange = draw;
    await load();
  }

  return { api, loginPage, indexPage, participantPage, renderAssessment };
})();
