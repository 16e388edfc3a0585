// vocalmind web page: plain JavaScript over the JSON API (cookie session + CSRF token).
// Text from the server is always inserted with textContent, never as HTML. No inline
// script anywhere: <body data-page> says which page this is (the CSP allows /static only).
"use strict";

const vm = (() => {
  const $ = (id) => document.getElementById(id);
  const csrf = () => document.querySelector("meta[name=csrf-token]")?.content || "";
  const SYNTHETIC = "synthetic demo - not for real speech";

  // --------------------------------------------------------------- errors in words
  const FIELD_NAMES = {
    code: "code", username: "username", password: "password", new_password: "new password",
    old_password: "current password", participant_id: "participant", session_id: "session",
    model_id: "model", file: "recording file", date: "date", session_date: "session date",
    label: "label", role: "role",
  };
  function friendly(status, detail) {
    if (status === 413) return "The file is too large for this server.";
    if (status === 429) return typeof detail === "string" ? detail : "Too many attempts; wait a moment.";
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const field = [...(d.loc || [])].reverse().find((x) => typeof x === "string" && x !== "body");
        const name = FIELD_NAMES[field] || field || "input";
        let msg = d.msg || "is not valid";
        msg = msg.replace(/^Value error, /, "").replace(/^String should have/, "should have");
        if (d.type === "missing") msg = "is required";
        return `${name[0].toUpperCase()}${name.slice(1)}: ${msg}.`;
      }).join(" ");
    }
    if (typeof detail === "string" && detail) return detail[0].toUpperCase() + detail.slice(1);
    return `The server could not do this (HTTP ${status}).`;
  }

  async function api(path, options = {}) {
    const method = (options.method || "GET").toUpperCase();
    const headers = { ...(options.headers || {}) };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
    const r = await fetch(path, { credentials: "same-origin", ...options, method, headers });
    if (r.status === 401 && !path.startsWith("/api/auth/login")) {
      window.location = "/login";
      throw new Error("You are not logged in (any more).");
    }
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
    if (!r.ok) {
      const err = new Error(friendly(r.status, body && body.detail));
      err.status = r.status;
      throw err;
    }
    return body;
  }
  const send = (method, path, data) => api(path, {
    method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });
  const postJSON = (path, data) => send("POST", path, data);

  function el(tag, text, attrs = {}) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function fill(select, items, value, label, keep = select.value) {
    select.replaceChildren(...items.map((it) => el("option", label(it), { value: value(it) })));
    if ([...select.options].some((o) => o.value === String(keep))) select.value = String(keep);
  }
  function table(tableEl, columns, rows) {
    const head = el("tr");
    columns.forEach(([, title]) => head.append(el("th", title)));
    const body = rows.map((r) => {
      const tr = el("tr");
      columns.forEach(([key, , fmt]) => {
        const v = fmt ? fmt(r[key], r) : r[key];
        const td = el("td");
        if (v instanceof Node) td.append(v); else td.textContent = v ?? "–";
        tr.append(td);
      });
      return tr;
    });
    tableEl.replaceChildren(head, ...body);
  }
  const num = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
  const modelName = (m) => `${m.label}: ${m.model}${m.corpus ? ` on ${m.corpus}` : ""}${m.synthetic ? ` (${SYNTHETIC})` : ""}`;
  const showError = (id, e) => { $(id).textContent = e.message || String(e); };

  async function header() {
    const me = await api("/api/auth/me");
    $("whoami").textContent = me.username;
    const out = $("logout");
    if (out) out.onclick = async () => { await api("/api/auth/logout", { method: "POST" }); window.location = "/login"; };
    return me;
  }

  // Forms are sent by script only. Their submit buttons are served disabled and enabled
  // here, once the handler is attached: a click while the page still loads its data would
  // otherwise submit the form natively (a GET that reloads the page and drops the input).
  function onSubmit(id, handler) {
    const form = $(id);
    form.onsubmit = async (ev) => { ev.preventDefault(); await handler(); };
    for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = false;
  }

  // ------------------------------------------------------------------ login
  function loginPage() {
    onSubmit("login-form", async () => {
      $("login-error").textContent = "";
      try {
        await postJSON("/api/auth/login", { username: $("username").value, password: $("password").value });
        window.location = "/studies";
      } catch (e) { showError("login-error", e); }
    });
  }

  // ------------------------------------------------------------------ studies
  async function studiesPage() {
    const me = await header();
    async function load() {
      const studies = await api("/api/studies");
      $("no-studies").hidden = studies.length > 0;
      $("studies-table").hidden = studies.length === 0;
      table($("studies-table"), [
        ["code", "study", (c, s) => el("a", c, { href: `/studies/${s.id}` })],
        ["role", "your role"], ["n_participants", "participants"],
        ["id", "", (id) => el("a", "assess a recording", { href: `/?study=${id}` })]], studies);
    }
    $("create-study-card").hidden = !me.is_superuser;
    onSubmit("create-study", async () => {
      $("create-study-error").textContent = "";
      try {
        const s = await postJSON("/api/studies", { code: $("study-code").value.trim() });
        $("study-code").value = "";
        await load();
        window.location = `/studies/${s.id}`;
      } catch (e) { showError("create-study-error", e); }
    });
    await load();
  }

  async function studyPage(sid) {
    await header();
    const study = await api(`/api/studies/${sid}`);
    $("study-code").textContent = study.code;
    async function loadParticipants() {
      const ps = await api(`/api/studies/${sid}/participants`);
      const cols = [
        ["code", "participant", (c, p) => el("a", c, { href: `/participants/${p.id}` })],
        ["n_sessions", "sessions"],
        ["id", "", (id) => el("a", "assess a recording", { href: `/?study=${sid}&participant=${id}` })]];
      if (study.role === "admin") {
        cols.push(["code", "", (c, p) => {
          const b = el("button", "delete all data", { type: "button", class: "small" });
          b.onclick = async () => {
            if (!window.confirm(`Delete participant ${c} with all recordings and results? This cannot be undone.`)) return;
            try { await api(`/api/participants/${p.id}`, { method: "DELETE" }); await loadParticipants(); } catch (e) { showError("participant-error", e); }
          };
          return b;
        }]);
      }
      table($("participants-table"), cols, ps);
    }
    onSubmit("add-participant-form", async () => {
      $("participant-error").textContent = "";
      try {
        await postJSON(`/api/studies/${sid}/participants`, { code: $("participant-code").value.trim() });
        $("participant-code").value = "";
        await loadParticipants();
      } catch (e) { showError("participant-error", e); }
    });
    async function loadMembers() {
      const ms = await api(`/api/studies/${sid}/members`);
      table($("members-table"), [["username", "username"], ["role", "role"],
        ["username", "", (u) => {
          const b = el("button", "remove", { type: "button", class: "small" });
          b.onclick = async () => {
            if (!window.confirm(`Remove ${u} from study ${study.code}? Their logins end.`)) return;
            try { await api(`/api/studies/${sid}/members/${encodeURIComponent(u)}`, { method: "DELETE" }); await loadMembers(); } catch (e) { showError("member-error", e); }
          };
          return b;
        }]], ms);
    }
    if (study.role === "admin") {
      $("members-card").hidden = false;
      onSubmit("add-member-form", async () => {
        $("member-error").textContent = "";
        try {
          await postJSON(`/api/studies/${sid}/members`, { username: $("member-username").value.trim(), role: $("member-role").value });
          await loadMembers();
        } catch (e) { showError("member-error", e); }
      });
      await loadMembers();
    }
    await loadParticipants();
  }

  // ------------------------------------------------------------------ account
  async function accountPage() {
    await header();
    onSubmit("password-form", async () => {
      $("password-error").textContent = "";
      $("password-done").textContent = "";
      if ($("new-password").value !== $("new-password-2").value) {
        $("password-error").textContent = "The two new passwords differ.";
        return;
      }
      try {
        const r = await postJSON("/api/auth/password", { old_password: $("old-password").value, new_password: $("new-password").value });
        $("password-done").textContent = `Done: ${r.status}.`;
        $("password-form").reset();
      } catch (e) { showError("password-error", e); }
    });
  }

  // ------------------------------------------------------------------ assessment view
  function renderAssessment(a) {
    $("assessment").hidden = false;
    $("assessment-id").textContent = `#${a.id}`;
    $("assessment-status").textContent = a.status;
    const box = $("assessment-body");
    box.replaceChildren();
    if (a.status === "failed") { box.append(el("p", a.error, { class: "error" })); return; }
    if (a.status !== "done") { box.append(el("p", "Queued for the worker; this page updates by itself.")); return; }
    const r = a.result;
    if (r.synthetic) box.append(el("p", `This model is a ${SYNTHETIC}: its output means nothing for a real participant.`, { class: "warning", id: "synthetic-warning" }));
    if (r.prediction === null || r.prediction === undefined) {
      box.append(el("p", `No model output yet: ${r.model_note || "the model could not score this recording"}.`, { id: "prediction", class: "notice" }));
    } else {
      box.append(el("p", `${r.label} (${r.model}, trained on ${r.trained_on}): ${r.prediction}`, { id: "prediction" }));
    }
    if (r.warnings && r.warnings.length) {
      const list = el("ul", null, { id: "domain-warnings", class: "notice" });
      for (const w of r.warnings) list.append(el("li", w));
      box.append(el("p", "This recording differs from the model's training data, so the answer may shift:", { class: "warning" }), list);
    }
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
      const wrap = el("div", null, { class: "table-wrap" });
      wrap.append(t);
      box.append(el("h3", "Clinical voice markers"), wrap);
    } else if (r.markers_error) {
      box.append(el("p", `Voice markers not available: ${r.markers_error}`));
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
    const params = new URLSearchParams(window.location.search);
    fill($("study"), me.studies, (s) => s.id, (s) => `${s.code} (${s.role})`, params.get("study") || "");
    if (!me.studies.length) $("upload-error").textContent = "You are not a member of any study yet: create one on the Studies page or ask a study admin.";
    const models = await api("/api/models");
    fill($("model"), models, (m) => m.id, (m) => `#${m.id} ${modelName(m)}`,
      (models.find((m) => !m.synthetic) || models[0] || {}).id || "");
    $("session-date").value = new Date().toISOString().slice(0, 10);
    let participants = [];

    function describeTarget() {
      const study = (me.studies.find((x) => String(x.id) === $("study").value) || {}).code || "–";
      const p = $("participant").selectedOptions[0]?.textContent;
      const s = $("session").selectedOptions[0]?.textContent || "a new session";
      const m = models.find((x) => String(x.id) === $("model").value);
      $("upload-target").textContent = p
        ? `The next recording goes to participant ${p} (study ${study}), ${s}, dated ${$("session-date").value || "today"}.`
        : "Add or select a participant first.";
      $("upload-notice").textContent = m && m.synthetic ? `Model #${m.id} is a ${SYNTHETIC}.` : "";
    }
    async function loadParticipants(select) {
      if (!$("study").value) return;
      participants = await api(`/api/studies/${$("study").value}/participants`);
      fill($("participant"), participants, (p) => p.id, (p) => p.code, select ?? params.get("participant") ?? "");
      await loadSessions();
    }
    async function loadSessions() {
      const pid = $("participant").value;
      $("participant-link").href = pid ? `/participants/${pid}` : "#";
      const ss = pid ? await api(`/api/participants/${pid}/sessions`) : [];
      fill($("session"), [{ id: "", label: "new session" }, ...ss], (s) => s.id,
        (s) => (s.id === "" ? s.label : `${s.label}${s.date ? ` (${s.date})` : ""}`), "");
      describeTarget();
    }
    $("study").onchange = () => loadParticipants("");
    $("participant").onchange = loadSessions;
    $("model").onchange = describeTarget;
    $("session-date").onchange = describeTarget;
    $("session").onchange = async () => {
      const sid = $("session").value;
      if (sid) {
        const s = await api(`/api/sessions/${sid}`);
        if (s.date) $("session-date").value = s.date;
      }
      describeTarget();
    };
    $("add-participant").onclick = async () => {
      $("upload-error").textContent = "";
      $("upload-notice").textContent = "";
      const code = $("new-code").value.trim();
      if (!code) { $("upload-error").textContent = "Type a participant code first."; return; }
      const existing = participants.find((p) => p.code.toLowerCase() === code.toLowerCase());
      try {
        if (existing) {
          await loadParticipants(String(existing.id));
          $("upload-notice").textContent = `Participant ${existing.code} already exists and is now selected.`;
        } else {
          const p = await postJSON(`/api/studies/${$("study").value}/participants`, { code });
          await loadParticipants(String(p.id));
          $("upload-notice").textContent = `Participant ${p.code} added and selected.`;
        }
        $("new-code").value = "";
      } catch (e) {
        if (e.status === 409) {  // added meanwhile by a colleague: select it
          await loadParticipants("");
          const p = participants.find((x) => x.code === code);
          if (p) { $("participant").value = String(p.id); await loadSessions(); $("upload-notice").textContent = `Participant ${p.code} already exists and is now selected.`; return; }
        }
        showError("upload-error", e);
      }
    };

    async function sendRecording(blob, name) {
      $("upload-error").textContent = "";
      if (!$("participant").value) { $("upload-error").textContent = "Add or select a participant first."; return; }
      const form = new FormData();
      form.append("file", blob, name);
      form.append("participant_id", $("participant").value);
      if ($("session").value) form.append("session_id", $("session").value);
      if ($("model").value) form.append("model_id", $("model").value);
      if ($("session-date").value) form.append("session_date", $("session-date").value);
      try {
        const res = await api("/api/recordings", { method: "POST", body: form });
        if (res.notice) $("upload-notice").textContent = res.notice[0].toUpperCase() + res.notice.slice(1) + ".";
        renderAssessment(res.assessment);
        await loadSessions();
        await poll(res.assessment.id);
      } catch (e) { showError("upload-error", e); }
    }
    $("upload").onclick = () => {
      const f = $("file").files[0];
      if (!f) { $("upload-error").textContent = "Choose a file first."; return; }
      sendRecording(f, f.name);
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
          sendRecording(new Blob(chunks, { type }), type.includes("ogg") ? "recording.ogg" : "recording.webm");
        };
        recorder.start();
        $("record").textContent = "Stop and assess";
        $("record-state").textContent = "recording…";
      } catch (e) { $("upload-error").textContent = `Cannot record: ${e.message}`; }
    };
    await loadParticipants();
  }

  // ------------------------------------------------------------------ participant page
  const DAY = 86400000;
  const dayNumber = (iso) => Math.round(Date.parse(`${iso}T00:00:00Z`) / DAY);
  const isoDay = (n) => new Date(n * DAY).toISOString().slice(0, 10);

  async function participantPage(pid) {
    await header();
    const models = await api("/api/models");
    fill($("model"), [{ id: "", label: "(voice markers only)" }, ...models], (m) => m.id,
      (m) => (m.id === "" ? m.label : `#${m.id} ${modelName(m)}`));
    if (models.length) $("model").value = (models.find((m) => !m.synthetic) || models[0]).id;
    let chart = null;
    let data = null;

    function draw() {
      const key = $("value").value;
      const info = data.value_info[key] || { label: key, unit: "", probability: false };
      const rows = data.sessions.filter((s) => s[key] !== null && s[key] !== undefined);
      const dated = rows.every((s) => s.session_date);
      const points = rows.map((s) => ({ x: dated ? dayNumber(s.session_date) : s.session_index, y: s[key], label: s.session_label }));
      if (chart) chart.destroy();
      const yTitle = info.unit ? `${info.label} (${info.unit})` : info.label;
      const y = { title: { display: true, text: yTitle } };
      if (info.probability) Object.assign(y, { min: 0, max: 1 });
      chart = new Chart($("trend-chart"), {
        type: "line",
        data: { datasets: [{ label: info.label, data: points, borderColor: "#4a78c2", backgroundColor: "#4a78c2", tension: 0, cubicInterpolationMode: "default", pointRadius: 4 }] },
        options: {
          maintainAspectRatio: false, animation: false, parsing: true,
          scales: {
            x: { type: "linear", title: { display: true, text: dated ? "session date" : "session number" },
              ticks: { precision: 0, stepSize: dated ? undefined : 1, callback: (v) => (dated ? isoDay(v) : `session ${v}`) } },
            y,
          },
          plugins: { tooltip: { callbacks: { title: (items) => items.map((i) => `${i.raw.label}${dated ? ` (${isoDay(i.raw.x)})` : ""}`) } } },
        },
      });
      $("chart-note").textContent = `${points.length} session${points.length === 1 ? "" : "s"}; one point per session (mean of its recordings), straight lines between them${info.probability ? "; probabilities on a fixed 0-1 axis" : ""}.`;
    }

    function sessionRows() {
      const byIndex = new Map(data.sessions.map((s) => [s.session_index, s]));
      return data.participant.sessions.map((s) => ({ ...(byIndex.get(s.index) || {}), ...s }));
    }
    function dateEditor(value, row) {
      const span = el("span", null, { class: "row" });
      const input = el("input", null, { type: "date", value: value || "", "aria-label": `date of ${row.label}` });
      const b = el("button", "save", { type: "button", class: "small" });
      b.onclick = async () => {
        $("session-error").textContent = "";
        try { await send("PATCH", `/api/sessions/${row.id}`, { date: input.value || null }); await load(); } catch (e) { showError("session-error", e); }
      };
      span.append(input, b);
      return span;
    }

    async function load() {
      const q = $("model").value ? `?model_id=${$("model").value}` : "";
      data = await api(`/api/participants/${pid}/trend${q}`);
      $("participant-code").textContent = data.participant.code;
      $("study-link").href = `/studies/${data.participant.study_id}`;
      $("assess-link").href = `/?study=${data.participant.study_id}&participant=${pid}`;
      const keys = Object.keys(data.value_info);
      fill($("value"), keys, (k) => k, (k) => data.value_info[k].label);
      table($("sessions-table"), [["label", "session"], ["date", "date", dateEditor],
        ...keys.map((k) => [k, data.value_info[k].unit ? `${data.value_info[k].label} (${data.value_info[k].unit})` : data.value_info[k].label, (v) => num(v, 3)])],
      sessionRows());
      const st = data.study_statistics;
      $("stats-note").textContent = st.note || `${st.n_participants} participants with 2 or more sessions.`;
      const label = (k) => (data.value_info[k] ? data.value_info[k].label : k);
      table($("prepost-table"), [["feature", "value", label], ["n", "n"], ["mean_before", "first", (v) => num(v)],
        ["mean_after", "last", (v) => num(v)], ["test", "test"], ["p", "p", (v) => num(v, 4)],
        ["p_fdr", "p (FDR)", (v) => num(v, 4)], ["effect_size", "effect", (v) => num(v, 2)],
        ["effect_type", "effect type"]], st.paired_change || []);
      $("insufficient").replaceChildren(...(st.insufficient || []).map((r) => el("li", `${label(r.feature)}: ${r.reason}.`)));
      table($("trend-table"), [["value", "value", label], ["n_subjects", "participants"], ["slope", "slope / session", (v) => num(v, 4)],
        ["p", "p", (v) => num(v, 4)], ["p_fdr", "p (FDR)", (v) => num(v, 4)]], st.session_trend || []);
      $("trend-insufficient").replaceChildren(...(st.trend_insufficient || []).map((r) => el("li", `${label(r.feature)}: ${r.reason}.`)));
      if (keys.length) draw();
    }
    $("model").onchange = load;
    $("value").onchange = draw;
    await load();
  }

  // ------------------------------------------------------------------ boot
  const pages = { login: loginPage, index: indexPage, studies: studiesPage, study: studyPage,
    account: accountPage, participant: participantPage };
  // never a native submission, even of a form whose handler is not attached yet
  document.addEventListener("submit", (ev) => ev.preventDefault(), true);
  document.addEventListener("DOMContentLoaded", () => {
    const { page, id } = document.body.dataset;
    const run = pages[page];
    if (run) {
      Promise.resolve(run(id ? Number(id) : undefined)).catch((e) => {
        const box = $("page-error");
        if (box) box.textContent = e.message || String(e);
      });
    }
  });
  return { api, renderAssessment };
})();
