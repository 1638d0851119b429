// mirrorvr therapist console: a small single-page app over the console's JSON API.
// No external libraries: everything is served by the console itself.
"use strict";

const state = { token: null, live: null, ws: null, screeningItems: null };

// ---- token and API -------------------------------------------------------------------------
function initToken() {
  const m = location.hash.match(/^#token=([A-Za-z0-9_\-]+)/);
  if (m) {
    sessionStorage.setItem("mirrorvr-token", m[1]);
    history.replaceState(null, "", location.pathname + "#/patients");
  }
  state.token = sessionStorage.getItem("mirrorvr-token");
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + (state.token || ""),
                    "X-Operator": localStorage.getItem("mirrorvr-operator") || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error((data && (data.error || data.detail)) || r.statusText);
    err.status = r.status; err.data = data;
    throw err;
  }
  return data;
}

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
function fmt(v, unit = "") { return v === null || v === undefined ? "–" : `${v}${unit}`; }
function problemsHtml(problems) {
  return (problems || []).map((p) => `<div class="problem" data-where="${esc(p.where)}">${esc(p.where)}: ${esc(p.message)}</div>`).join("");
}
function showError(el, e) {
  if (e.data && e.data.problems) el.innerHTML = problemsHtml(e.data.problems);
  else el.innerHTML = `<div class="problem">${esc(e.message)}</div>`;
}

// ---- router --------------------------------------------------------------------------------
async function route() {
  if (!state.token) {
    main().innerHTML = `<section class="card"><h1>Token needed</h1><p>Open the console with the address
      <code>mirrorvr console</code> printed (it ends in <code>#token=…</code>).</p></section>`;
    return;
  }
  const h = location.hash || "#/patients";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", h.startsWith(a.getAttribute("href"))));
  try {
    let m;
    if ((m = h.match(/^#\/patient\/([^/]+)$/))) await pagePatient(decodeURIComponent(m[1]));
    else if ((m = h.match(/^#\/plan\/([^/]+)$/))) await pagePlan(decodeURIComponent(m[1]));
    else if (h.startsWith("#/live")) pageLive();
    else if (h.startsWith("#/audit")) await pageAudit();
    else await pagePatients();
  } catch (e) {
    main().innerHTML = `<section class="card"><div class="problem">${esc(e.message)}</div></section>`;
  }
}

// ---- patients ------------------------------------------------------------------------------
async function pagePatients() {
  const list = await api("GET", "/api/patients");
  main().innerHTML = `
    <h1>Patients</h1>
    <div class="grid">
    <section class="card"><h2>Patient list</h2>
      <table id="patients"><tr><th>ID</th><th>Side</th><th>Level</th><th>Sessions</th><th>Last session</th><th>Last pain (post)</th><th>GMI stage</th></tr>
      ${list.map((p) => `<tr><td><a href="#/patient/${encodeURIComponent(p.id)}">${esc(p.id)}</a></td><td>${esc(p.amputation_side)}</td>
        <td>${esc(p.amputation_level)}</td><td>${p.sessions}</td><td>${fmt(p.last_session)}</td><td>${fmt(p.last_pain)}</td><td>${fmt(p.gmi_stage)}</td></tr>`).join("")}
      </table>
      ${list.length ? "" : "<p class='small'>No patients yet.</p>"}
    </section>
    <section class="card"><h2>Register a patient</h2>
      <form id="new-patient">
        <label>Pseudonymous ID (never a name) <input name="id" required pattern="[A-Za-z0-9_.\\-]{1,64}"></label>
        <label>Amputation side <select name="amputation_side"><option>left</option><option>right</option></select></label>
        <label>Level <select name="amputation_level">${["hand","wrist","transradial","elbow","transhumeral","shoulder","other"].map((l) => `<option ${l==="transradial"?"selected":""}>${l}</option>`).join("")}</select></label>
        <label>Amputation date <input name="amputation_date" type="date"></label>
        <label>Notes <textarea name="notes" rows="2" cols="30"></textarea></label>
        <button class="primary" type="submit">Register</button>
        <div class="msg" id="new-patient-msg"></div>
      </form>
    </section></div>`;
  $("#new-patient").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = Object.fromEntries(f.entries());
    if (!body.amputation_date) delete body.amputation_date;
    try {
      await api("POST", "/api/patients", body);
      location.hash = "#/patient/" + encodeURIComponent(body.id);
    } catch (e) { showError($("#new-patient-msg"), e); }
  });
}

function trendSvg(trend) {
  const pts = trend.filter((t) => t.pre !== null || t.post !== null);
  if (!pts.length) return "<p class='small'>No ratings yet.</p>";
  const W = 1000, H = 220, L = 30, B = 30, n = pts.length;
  const x = (i) => L + (n === 1 ? (W - L) / 2 : (i * (W - L - 60)) / (n - 1) + 20);
  const y = (v) => 10 + (10 - v) * ((H - B - 10) / 10);
  const line = (key, cls, color) => {
    const p = pts.map((t, i) => (t[key] === null ? null : [x(i), y(t[key])])).filter(Boolean);
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${p.map((q) => q.join(",")).join(" ")}"/>` +
      p.map((q) => `<circle class="${cls}" cx="${q[0]}" cy="${q[1]}" r="4" fill="${color}"/>`).join("");
  };
  let grid = "";
  for (let v = 0; v <= 10; v += 2) grid += `<line x1="${L}" x2="${W}" y1="${y(v)}" y2="${y(v)}" stroke="#e6e9ec"/><text x="4" y="${y(v) + 4}">${v}</text>`;
  const labels = pts.map((t, i) => `<text x="${x(i) - 20}" y="${H - 8}">${esc(t.date.slice(5))}</text>`).join("");
  return `<svg class="trend" viewBox="0 0 ${W} ${H}" id="trend">${grid}${labels}
    ${line("pre", "pre", "#c07b00")}${line("post", "post", "#1f6fb2")}
    <text x="${W - 260}" y="16" fill="#c07b00">● pre</text><text x="${W - 200}" y="16" fill="#1f6fb2">● post / follow-up</text></svg>`;
}

function latHtml(lat) {
  if (!lat) return "";
  const sides = Object.entries(lat.by_side).map(([side, v]) =>
    `${esc(side)} ${v.accuracy_pct} % correct, median ${fmt(v.median_rt_s, " s")}${v.accuracy_ok && v.speed_ok !== false ? "" : " (below norms)"}`);
  return `<div class="laterality"><b>Laterality:</b> ${sides.join("; ")}<br><i>${esc(lat.suggestion)}</i></div>`;
}

// ---- virtual limbs: appearance with a live preview -----------------------------------------
async function appearanceCard(pid) {
  const form = $("#appearance-form"), img = $("#appearance-preview"), msg = $("#appearance-msg");
  const base = `/api/patients/${encodeURIComponent(pid)}/appearance`;
  const a = await api("GET", base);
  for (const k of ["skin", "sleeve", "hand_length_cm", "hand_width_cm"]) form.elements[k].value = a[k] ?? "";
  const values = () => {
    const f = Object.fromEntries(new FormData(form).entries());
    const num = (v) => (v === "" ? null : Number(v));
    return { skin: f.skin, sleeve: f.sleeve, hand_length_cm: num(f.hand_length_cm), hand_width_cm: num(f.hand_width_cm) };
  };
  let timer = null, shown = 0;
  const preview = async () => {
    const v = values(), n = ++shown;
    const r = await fetch(base + "/preview", { method: "POST", body: JSON.stringify(v),
      headers: { "Authorization": "Bearer " + (state.token || ""), "Content-Type": "application/json" } });
    if (n !== shown) return;  // a newer preview is on its way
    if (!r.ok) { msg.textContent = ((await r.json().catch(() => ({}))).error) || r.statusText; return; }
    // a data: URL (the console's content security policy allows data: images, not blob:)
    const blob = await r.blob();
    const url = await new Promise((ok) => { const fr = new FileReader(); fr.onload = () => ok(fr.result); fr.readAsDataURL(blob); });
    if (n !== shown) return;
    img.onload = () => {  // the attributes say what the picture shows once it is drawn
      img.dataset.skin = v.skin; img.dataset.sleeve = v.sleeve;
      img.dataset.handLength = v.hand_length_cm ?? ""; img.dataset.handWidth = v.hand_width_cm ?? "";
    };
    img.src = url;
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 250); });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    api("PUT", base, values()).then(() => { msg.textContent = "Saved: used by every session planned from now on."; })
      .catch((e) => showError(msg, e));
  });
  preview();
}

async function pagePatient(pid) {
  const d = await api("GET", "/api/patients/" + encodeURIComponent(pid));
  if (!state.screeningItems) state.screeningItems = await api("GET", "/api/screening-items");
  const p = d.patient, st = d.screening_status, th = d.thresholds;
  const last = th.length ? th[th.length - 1] : null;
  main().innerHTML = `
    <h1>Patient ${esc(p.id)} <span class="small">${esc(p.amputation_side)} ${esc(p.amputation_level)} amputation${p.amputation_date ? " · " + esc(p.amputation_date) : ""}</span></h1>
    <p><a href="#/plan/${encodeURIComponent(p.id)}"><button class="primary" id="plan-session">Plan a session</button></a>
       <span class="small">Pulses delivered today: <b id="pulses-today">${d.pulses_today}</b> · GMI stage: <b id="gmi-stage">${fmt(d.gmi_stage)}</b></span></p>
    <section class="card"><h2>Pain trend (NRS 0–10)</h2>${trendSvg(d.trend)}
      <form id="rating-form"><label class="inline">Rating <input name="value" type="number" min="0" max="100" step="1" required></label>
        <label class="inline">Scale <select name="scale"><option value="nrs">NRS 0–10</option><option value="vas">VAS 0–100 mm</option></select></label>
        <label class="inline">Timepoint <select name="timepoint"><option>pre</option><option>post</option><option>end-of-treatment</option><option>follow-up-1m</option><option>follow-up-3m</option><option>follow-up-6m</option></select></label>
        <label class="inline">Session <select name="session_id"><option value="">(none)</option>${d.sessions.map((s) => `<option value="${s.id}">${s.id} · ${esc(s.date)}</option>`).join("")}</select></label>
        <button type="submit">Add rating</button><div class="msg" id="rating-msg"></div></form>
    </section>
    <section class="card" id="course"><h2>Course</h2><div id="course-body" class="small">loading…</div></section>
    <section class="card" id="appearance"><h2>Virtual limbs</h2>
      <p class="small">How the mirrored limb looks: match the skin tone and measure the intact hand (length wrist crease → middle fingertip, width across the knuckles). The preview shows both hands as the patient will see them.</p>
      <form id="appearance-form"><label class="inline">Skin <input name="skin" type="color"></label>
        <label class="inline">Sleeve <input name="sleeve" type="color"></label>
        <label class="inline">Hand length (cm) <input name="hand_length_cm" type="number" min="12" max="26" step="0.5"></label>
        <label class="inline">Hand width (cm) <input name="hand_width_cm" type="number" min="5" max="13" step="0.5"></label>
        <button type="submit">Save appearance</button><div class="msg" id="appearance-msg"></div></form>
      <img id="appearance-preview" alt="preview of the patient's virtual hands" width="480" height="270">
    </section>
    <div class="grid">
    <section class="card"><h2>TMS screening</h2>
      <p id="screening-status" class="${st.cleared ? "ok" : "warn"}">${st.cleared ? "Cleared" : "Not cleared"}: ${esc(st.reason)}</p>
      <form id="screening-form">
        ${Object.entries(state.screeningItems).map(([k, q]) => `<fieldset class="small screening-item"><legend>${esc(q)}</legend>
          <label class="inline"><input type="radio" name="${k}" value="yes"> yes</label>
          <label class="inline"><input type="radio" name="${k}" value="no"> no</label>
          <label class="inline"><input type="radio" name="${k}" value="" checked> not asked</label></fieldset>`).join("")}
        <button type="button" id="screening-all-no">Answer "no" to every question not answered yes</button>
        <label>Physician clearing any "yes" <input name="cleared_by"></label>
        <button type="submit">Record screening</button><div class="msg" id="screening-msg"></div>
      </form>
    </section>
    <section class="card"><h2>Motor threshold</h2>
      <p>Latest: <b id="latest-mt">${last ? `${last.rmt_pct_mso} % MSO (${esc(last.method)}, ${esc(last.date)})` : "none on record"}</b></p>
      ${th.length > 1 ? `<p class="small">Change from previous: ${(last.rmt_pct_mso - th[th.length - 2].rmt_pct_mso).toFixed(1)} % MSO</p>` : ""}
      <form id="mt-form"><label class="inline">Resting MT (% MSO) <input name="rmt_pct_mso" type="number" min="1" max="100" step="0.5" required></label>
        <label class="inline">Method <select name="method"><option>5-10</option><option>ml-pest</option><option>two-threshold</option><option>visual</option><option>other</option></select></label>
        <button type="submit">Record today's threshold</button><div class="msg" id="mt-msg"></div></form>
    </section>
    <section class="card"><h2>GMI stage</h2>
      <table>${d.gmi.map((g) => `<tr><td>${esc(g.date)}</td><td>${esc(g.stage)}</td><td>${esc(g.change)}</td><td>${esc(g.reason)}</td></tr>`).join("")}</table>
      <form id="gmi-form"><select name="change"><option>start</option><option>progress</option><option>regress</option><option>repeat</option></select>
        <input name="reason" placeholder="reason"><button type="submit">Record</button><div class="msg" id="gmi-msg"></div></form>
    </section>
    </div>
    <section class="card"><h2>Session history</h2>
      <table id="sessions"><tr><th>#</th><th>Date</th><th>Plan</th><th>Status</th><th>Pulses (delivered / planned)</th><th>E-stops</th><th>Pre → post</th><th>Deviations</th><th>Notes and adverse events</th></tr>
      ${d.sessions.slice().reverse().map((s) => {
        const t = d.trend.find((x) => x.session_id === s.id) || {};
        return `<tr data-session="${s.id}"><td>${s.id}</td><td>${esc(s.date)}</td><td>${esc(s.plan_name)}</td><td>${esc(s.status)}</td>
          <td>${fmt(s.pulses_delivered)} / ${s.pulses_planned}</td><td>${fmt(s.estops)}</td><td>${fmt(t.pre)} → ${fmt(t.post)}</td>
          <td class="small">${s.deviations.map(esc).join("<br>")}${latHtml(s.laterality)}</td>
          <td><form class="notes-form" data-sid="${s.id}"><textarea name="notes" rows="2" cols="24">${esc(s.notes)}</textarea><button type="submit">Save notes</button></form>
            ${s.adverse_events.map((a) => `<div class="small warn">AE (${esc(a.severity)}, ${esc(a.relatedness)}): ${esc(a.description)}</div>`).join("")}
            <form class="ae-form" data-sid="${s.id}"><input name="description" placeholder="adverse event" size="14">
              <select name="severity"><option>mild</option><option>moderate</option><option>severe</option></select>
              <select name="relatedness"><option>unknown</option><option>unrelated</option><option>unlikely</option><option>possible</option><option>probable</option><option>definite</option></select>
              <button type="submit">Add AE</button></form><div class="msg"></div></td></tr>`;
      }).join("")}</table>
      ${d.sessions.length ? "" : "<p class='small'>No sessions yet.</p>"}
    </section>`;
  appearanceCard(pid);
  const reload = () => pagePatient(pid);
  const post = (form, path, body, msg) => api("POST", path, body).then(reload).catch((e) => showError(msg, e));
  $("#rating-form").addEventListener("submit", (ev) => {
    ev.preventDefault(); const f = Object.fromEntries(new FormData(ev.target).entries());
    const body = { value: Number(f.value), scale: f.scale, timepoint: f.timepoint };
    if (f.session_id) body.session_id = Number(f.session_id);
    post(ev.target, `/api/patients/${encodeURIComponent(pid)}/ratings`, body, $("#rating-msg"));
  });
  $("#screening-all-no").addEventListener("click", () => {
    const f = $("#screening-form");
    Object.keys(state.screeningItems).forEach((k) => { if (f.elements[k].value !== "yes") f.elements[k].value = "no"; });
  });
  $("#screening-form").addEventListener("submit", (ev) => {
    ev.preventDefault(); const answers = {};
    const v = { yes: true, no: false, "": null };  // yes / no / not asked
    Object.keys(state.screeningItems).forEach((k) => { answers[k] = v[ev.target.elements[k].value]; });
    const missing = Object.keys(answers).filter((k) => answers[k] === null);
    if (missing.length === Object.keys(answers).length) {
      $("#screening-msg").textContent = "An empty form cannot be recorded: answer every question yes or no.";
      $("#screening-msg").className = "msg warn"; return;
    }
    post(ev.target, `/api/patients/${encodeURIComponent(pid)}/screening`, { answers, cleared_by: ev.target.elements.cleared_by.value }, $("#screening-msg"));
  });
  $("#mt-form").addEventListener("submit", (ev) => {
    ev.preventDefault(); const f = Object.fromEntries(new FormData(ev.target).entries());
    post(ev.target, `/api/patients/${encodeURIComponent(pid)}/threshold`, { rmt_pct_mso: Number(f.rmt_pct_mso), method: f.method }, $("#mt-msg"));
  });
  $("#gmi-form").addEventListener("submit", (ev) => {
    ev.preventDefault(); const f = Object.fromEntries(new FormData(ev.target).entries());
    post(ev.target, `/api/patients/${encodeURIComponent(pid)}/gmi`, f, $("#gmi-msg"));
  });
  document.querySelectorAll(".notes-form").forEach((form) => form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const msg = form.parentElement.querySelector(".msg");
    api("POST", `/api/sessions/${form.dataset.sid}/notes`, { notes: form.elements.notes.value })
      .then(() => { msg.innerHTML = "<span class='ok'>notes saved</span>"; })
      .catch((e) => showError(msg, e));
  }));
  document.querySelectorAll(".ae-form").forEach((form) => form.addEventListener("submit", (ev) => {
    ev.preventDefault(); const f = Object.fromEntries(new FormData(form).entries());
    post(form, `/api/sessions/${form.dataset.sid}/adverse-events`, f, form.parentElement.querySelector(".msg"));
  }));
  loadCourse(pid);
}

// ---- course (never a trial arm: the console is a blinded therapist's screen) ---------------
function pct(v) { return v === null || v === undefined ? "–" : `${v > 0 ? "+" : ""}${v.toFixed(0)} %`; }
async function loadCourse(pid) {
  const el = $("#course-body");
  try {
    const d = await api("GET", `/api/patients/${encodeURIComponent(pid)}/course`);
    const el2 = d.eligibility;
    const findings = el2.findings.filter((f) => f.level !== "note").map((f) =>
      `<li class="${f.level === "block" ? "warn" : ""}">${esc(f.item)}: ${esc(f.level)} — ${esc(f.message)}</li>`).join("");
    let html = `<p id="eligibility" class="${el2.may_start ? "ok" : "warn"}">Eligibility: ${el2.may_start ? "a course may start" : "blocked"}</p>${findings ? `<ul>${findings}</ul>` : ""}`;
    if (d.trial) html += `<p id="trial">In trial <b>${esc(d.trial.id)}</b> (allocation ${esc(d.trial.allocation)})</p>`;
    const c = d.course;
    if (!c) { el.innerHTML = html + "<p>No course: start one with <code>mirrorvr course start</code>.</p>"; return; }
    const resp = Object.entries(c.responders).map(([k, v]) => `${esc(k)}: ${v === null ? "–" : v ? "yes" : "no"}`).join(" · ");
    const nx = c.next ? `${esc(c.next.label)} due ${esc(c.next.due)}${c.next.latest ? " (by " + esc(c.next.latest) + ")" : ""}` : "nothing due";
    html += `<p id="course-summary"><b>${esc(c.name)}</b> (${esc(c.kind)}, ${esc(c.status)}, started ${esc(c.started)})<br>
      Sessions done <b id="course-done">${c.sessions_done}</b> of ${c.sessions_total}, missed ${c.sessions_missed}, boosters ${c.boosters_done} ·
      adherence ${c.adherence === null ? "–" : Math.round(100 * c.adherence) + " %"} · next: <span id="course-next">${nx}</span><br>
      Baseline ${fmt(c.baseline)} → latest ${fmt(c.latest)} (${pct(c.pct_change)}) · responders: <span id="course-responders">${resp}</span></p>
      ${c.interrupted ? `<p class="warn">Interrupted: ${esc(c.interrupted)}</p>` : ""}
      ${c.suggestion ? `<p id="course-suggestion" class="${c.booster_suggested || c.retreatment_suggested ? "warn" : ""}">${esc(c.suggestion)}</p>` : ""}
      <table id="course-visits"><tr><th>Visit</th><th>Date</th><th>Status</th></tr>${c.visits.map((v) => `<tr><td>${esc(v.label)}</td><td>${esc(v.date)}</td><td>${esc(v.status)}</td></tr>`).join("")}</table>`;
    el.innerHTML = html;
  } catch (e) { showError(el, e); }
}

// ---- plan editor ---------------------------------------------------------------------------
async function pagePlan(pid) {
  const protocols = await api("GET", "/api/protocols");
  main().innerHTML = `
    <h1>Plan a session for ${esc(pid)}</h1>
    <div class="grid">
    <section class="card"><h2>Plan</h2>
      <form id="plan-form">
        <label id="f-preset">Protocol preset <select name="preset">${protocols.map((p) => `<option value="${esc(p.name)}">${esc(p.title)}</option>`).join("")}</select></label>
        <div class="small" id="preset-info"></div>
        <label id="f-stage">Exercises <select name="stage"><option value="">as in the preset</option>
          <option value="laterality">GMI 1: laterality recognition</option><option value="imagery">GMI 2: explicit imagery</option>
          <option value="mirror">GMI 3: mirror movements</option><option value="functional">GMI 4: functional tasks</option></select></label>
        <div class="field-problems" data-for="stage"></div>
        <label id="f-intensity">Intensity (% of resting motor threshold) <input name="intensity_pct_rmt" type="number" step="1" min="1" max="200"></label>
        <div class="field-problems" data-for="stimulation.intensity_pct_rmt"></div>
        <div id="plan-problems"></div>
        <button class="primary" id="start" type="button" disabled>Start session</button>
        <div class="msg" id="start-msg"></div>
      </form>
    </section>
    <section class="card"><h2>What will run</h2><dl class="status" id="plan-summary"></dl></section>
    </div>`;
  const form = $("#plan-form");
  const body = () => {
    const b = { patient_id: pid, preset: form.elements.preset.value };
    if (form.elements.stage.value) b.stage = form.elements.stage.value;
    if (form.elements.intensity_pct_rmt.value !== "") b.intensity_pct_rmt = Number(form.elements.intensity_pct_rmt.value);
    return b;
  };
  const showPreset = () => {
    const p = protocols.find((x) => x.name === form.elements.preset.value);
    $("#preset-info").innerHTML = `${esc(p.summary)}<br>${p.investigational ? "<b>Investigational.</b> " : ""}${esc(p.clinical_use)}<br>` +
      p.sources.map((s) => `<a href="${esc(s.url)}" rel="noreferrer">${esc(s.citation)}</a>`).join("<br>");
    form.elements.intensity_pct_rmt.value = p.intensity_pct_rmt ?? "";
    form.elements.intensity_pct_rmt.disabled = p.intensity_pct_rmt === null;
  };
  let checks = 0;  // answers can arrive out of order: only the newest check is shown
  const check = async () => {
    const mine = ++checks;
    const r = await api("POST", "/api/plan/check", body());
    if (mine !== checks) return;
    const fieldProblems = new Set();
    form.querySelectorAll(".field-problems").forEach((el) => {
      const mine = r.problems.filter((p) => p.where === el.dataset.for || p.where.startsWith(el.dataset.for + "."));
      mine.forEach((p) => fieldProblems.add(p));
      el.innerHTML = problemsHtml(mine);
    });
    $("#f-intensity").classList.toggle("field-error", r.problems.some((p) => p.where.startsWith("stimulation.intensity")));
    $("#plan-problems").innerHTML = problemsHtml(r.problems.filter((p) => !fieldProblems.has(p)));
    $("#start").disabled = !r.ok;
    const s = r.summary;
    $("#plan-summary").innerHTML = s ? `
      <dt>Plan</dt><dd>${esc(s.name)}</dd><dt>Blocks</dt><dd>${s.blocks.map(esc).join(" → ")}</dd>
      <dt>Stimulation</dt><dd>${esc(s.mode)}</dd>
      <dt>Intensity</dt><dd>${s.mode === "none" ? "–" : `${s.intensity_pct_rmt} % RMT = ${s.intensity_pct_mso} % MSO`}</dd>
      <dt>Pulses</dt><dd>${s.pulses}</dd><dt>Duration</dt><dd>${(s.duration_s / 60).toFixed(1)} min</dd>
      <dt>Safety limits</dt><dd>≤ ${s.limits.max_intensity_pct_rmt} % RMT, ≤ ${s.limits.max_pulses_per_session} pulses/session, ≤ ${s.limits.max_pulses_per_day}/day</dd>` : "<dd>the plan is not valid</dd>";
    $("#plan-summary").dataset.ok = r.ok ? "yes" : "no";
  };
  form.elements.preset.addEventListener("change", () => { showPreset(); check(); });
  form.elements.stage.addEventListener("change", check);
  form.elements.intensity_pct_rmt.addEventListener("input", check);
  $("#start").addEventListener("click", async () => {
    try {
      await api("POST", "/api/sessions/start", body());
      location.hash = "#/live";
    } catch (e) { showError($("#start-msg"), e); }
  });
  showPreset();
  await check();
}

// ---- live session --------------------------------------------------------------------------
function pageLive() {
  main().innerHTML = `
    <h1>Live session</h1>
    <button id="estop" class="estop big" title="Emergency stop (Esc)">EMERGENCY STOP</button>
    <div class="controls">
      <button id="pause" title="P">Pause</button><button id="resume" title="P">Resume</button><button id="stop">Stop session</button>
    </div>
    <div class="msg" id="control-msg"></div>
    <div class="grid">
    <section class="card"><h2>Status</h2><dl class="status" id="live-status"></dl></section>
    <section class="card"><h2>Recent events</h2><div class="tail" id="live-tail"></div></section>
    </div>`;
  $("#estop").addEventListener("click", () => control("estop"));
  $("#pause").addEventListener("click", () => control("pause"));
  $("#resume").addEventListener("click", () => control("resume"));
  $("#stop").addEventListener("click", () => { if (confirm("End the session now?")) control("stop"); });
  renderLive();
}

function renderLive() {
  const s = state.live;
  const badge = $("#live-badge");
  badge.textContent = !s || s.state === "none" ? "no session" : `${s.patient_id}: ${s.state}`;
  badge.className = "badge " + (s && !s.ended ? s.state : "");
  const el = $("#live-status");
  if (!el) return;
  if (!s || s.state === "none") { el.innerHTML = "<dd>No session has been started from this console.</dd>"; return; }
  const dev = s.device || "";
  el.innerHTML = `
    <dt>Patient</dt><dd>${esc(s.patient_id)} · session ${s.session_id}</dd>
    <dt>State</dt><dd id="st-state">${esc(s.state)}${s.reason ? " – " + esc(s.reason) : ""}${s.ended ? " · session over, recorded" : ""}</dd>
    <dt>Block</dt><dd id="st-block">${s.block ? `${s.block.index + 1} of ${s.blocks}: ${esc(s.block.label)}` : "–"}</dd>
    <dt>Next cue</dt><dd id="st-next">${s.next_cue ? `${esc(s.next_cue.movement)} in ${s.next_cue.in_s} s` : "–"}</dd>
    <dt>Pulses delivered</dt><dd id="st-pulses">${s.pulses_delivered} / ${s.pulses_planned}</dd>
    <dt>Stimulator</dt><dd id="st-device" class="${dev.startsWith("ARMED") ? "device-armed" : "device-disarmed"}">${esc(dev)}</dd>
    <dt>Emergency stops</dt><dd id="st-estops">${s.estops}</dd>
    ${s.device_fault ? `<dt>Device fault</dt><dd id="st-device-fault" class="${s.device_fault.disarm === "confirmed" ? "device-disarmed" : "device-armed"}">${s.device_fault.action === "pause" ? "paused by a device fault (plan: pause)" : "emergency stop on a device fault"} at ${Number(s.device_fault.t).toFixed(1)} s · disarm ${esc(s.device_fault.disarm)}${s.device_fault.reconnected_t != null ? " · stimulator answers again: resume when ready" : ""} – ${esc(s.device_fault.cause)}</dd>` : ""}
    ${(s.disarm_warnings || []).map(w => `<dt>DISARM</dt><dd class="disarm-warning device-armed"><b>${esc(w)}</b></dd>`).join("")}
    <dt>Last rating</dt><dd id="st-rating">${s.last_rating ? `${fmt(s.last_rating.value)} (${esc(s.last_rating.timepoint)})` : "–"}</dd>
    <dt>Frame health</dt><dd id="st-frames">${esc(s.frame_health)}</dd>
    <dt>Session folder</dt><dd class="small">${esc(s.folder)}</dd>`;
  $("#live-tail").textContent = (s.tail || []).join("\n");
  const ended = s.ended;
  $("#pause").disabled = ended || s.state !== "running";
  $("#resume").disabled = ended || s.state !== "paused";
  $("#stop").disabled = ended;
}

async function control(action) {
  const msg = $("#control-msg");
  try {
    state.live = await api("POST", "/api/sessions/current/" + action);
    renderLive();
    if (msg) msg.textContent = "";
  } catch (e) { if (msg) showError(msg, e); }
}

function connectLive() {
  if (!state.token) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/live?token=${encodeURIComponent(state.token)}`);
  ws.onmessage = (ev) => { state.live = JSON.parse(ev.data); renderLive(); };
  ws.onclose = () => setTimeout(connectLive, 1000);
  state.ws = ws;
}

// ---- audit ---------------------------------------------------------------------------------
async function pageAudit() {
  const rows = await api("GET", "/api/audit");
  main().innerHTML = `<h1>Audit log</h1><section class="card"><table id="audit">
    <tr><th>Time (UTC)</th><th>Who</th><th>Action</th><th>Patient</th><th>Details</th></tr>
    ${rows.slice().reverse().map((r) => `<tr><td>${esc(r.t)}</td><td>${esc(r.actor)}</td><td>${esc(r.action)}</td><td>${esc(r.patient_id)}</td>
      <td class="small">${esc(JSON.stringify(r.details))}</td></tr>`).join("")}</table></section>`;
}

// ---- keyboard shortcuts --------------------------------------------------------------------
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") { ev.preventDefault(); control("estop"); return; }
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (!typing && (ev.key === "p" || ev.key === "P")) {
    ev.preventDefault();
    control(state.live && state.live.state === "paused" ? "resume" : "pause");
  }
});

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  initToken();
  const op = $("#operator");
  op.value = localStorage.getItem("mirrorvr-operator") || "";
  op.addEventListener("change", () => localStorage.setItem("mirrorvr-operator", op.value));
  $("#estop-global").addEventListener("click", () => control("estop"));
  connectLive();
  route();
});
