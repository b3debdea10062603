// The patient app's behaviour. No framework and no build step. Every value from the API is put into the
// page with textContent (never innerHTML), so nothing an answer contains can become markup or script.
(function () {
  "use strict";

  const slug = document.body.dataset.slug;

  // The sign-in page: a sign-in link carries its one-time code in the URL fragment, which never reaches a
  // server. Move it into the form and out of the address bar (and so out of the history), then let the
  // patient press "Sign in": nothing signs in on a mere page load, so link scanners cannot use the code up.
  if (document.body.dataset.page === "signin") {
    const fill = () => {
      const match = /^#code=([A-Za-z0-9_-]{1,100})$/.exec(location.hash);
      const field = document.getElementById("code");
      if (match && field) {
        field.value = match[1];
        history.replaceState(null, "", location.pathname + location.search);
        const button = document.querySelector("#form-signin button");
        if (button) button.focus();
      }
    };
    fill();
    window.addEventListener("hashchange", fill); // a second link opened on the page already showing
    return;
  }
  if (document.body.dataset.page) return; // the profile pages work without script
  const statusLine = document.getElementById("status");
  let session = null;

  const LEVELS = {
    emergency_ambulance: "Emergency: call an ambulance",
    emergency: "Emergency: get help now",
    consultation_24: "See a doctor within 24 hours",
    consultation: "Book an appointment with a doctor",
    self_care: "Self-care is likely to be enough",
  };
  const SEVERITIES = {
    contraindicated: "Do not combine",
    major: "Major",
    moderate: "Moderate",
    minor: "Minor",
  };

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function show(target, ...nodes) {
    target.replaceChildren(...nodes.filter((n) => n));
  }

  function disclaimer(text) {
    return text ? el("p", { class: "disclaimer-text", text: text }) : null;
  }

  function citations(list) {
    if (!list || !list.length) return null;
    const items = list.slice(0, 8).map((c) => el("li", { text: [c.title, c.publisher].filter(Boolean).join(", ") }));
    return el("details", {}, el("summary", { text: "Sources" }), el("ul", {}, ...items));
  }

  // The session request carries the patient's sign-in cookie (same origin only): a signed-in patient's
  // token is bound to their record, and the checks below then send its id so their profile is used.
  async function start() {
    if (session && session.expires > Date.now() / 1000 + 30) return session;
    const response = await fetch("/t/" + encodeURIComponent(slug) + "/session", {
      method: "POST",
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("session " + response.status);
    const body = await response.json();
    session = { token: body.token, expires: Date.parse(body.expires_at) / 1000, patient: body.patient_id || null };
    return session;
  }

  async function token() {
    return (await start()).token;
  }

  // The body with the signed-in patient's id added (nothing when no patient is signed in).
  async function withProfile(body) {
    try {
      const current = await start();
      if (current.patient) return Object.assign({}, body, { patient_id: current.patient });
    } catch (_) {
      // the call itself reports the failure
    }
    return body;
  }

  function profileNote() {
    return session && session.patient
      ? el("p", { class: "uses-profile", text: "This used your profile (conditions, medicines, allergies)." })
      : null;
  }

  // {status, data}; status 0 when the network or the session failed.
  async function api(method, path, body) {
    try {
      const headers = { authorization: "Bearer " + (await token()) };
      if (body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(path, {
        method: method,
        headers: headers,
        credentials: "omit",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      return { status: response.status, data: data };
    } catch (_) {
      return { status: 0, data: null };
    }
  }

  // A message for anything but success; null when the call succeeded.
  function failure(result, what) {
    if (result.status >= 200 && result.status < 300) return null;
    if ([404, 405, 501, 503].includes(result.status) || result.status === 0) {
      return el("p", { class: "notice", role: "status", text: what + " is not available right now. Please try again later." });
    }
    if (result.status === 429) {
      return el("p", { class: "notice", role: "status", text: "Too many requests. Please wait a minute and try again." });
    }
    const detail = result.data && result.data.detail ? result.data.detail : "Something went wrong.";
    return el("p", { class: "notice", role: "alert", text: detail });
  }

  function busy(form, on) {
    for (const button of form.querySelectorAll("button")) button.disabled = on;
    statusLine.textContent = on ? "Working..." : "";
  }

  function bind(id, handler) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      busy(form, true);
      try {
        await handler(form);
      } finally {
        busy(form, false);
      }
    });
  }

  // --- check my medicines ---------------------------------------------------------------------------------
  function renderInteractions(data) {
    const nodes = [];
    const found = (data.interactions || []).concat(data.warnings || []);
    if (!found.length) {
      nodes.push(el("p", { text: "No interactions were found between the medicines we recognised." }));
    }
    for (const item of data.interactions || []) {
      nodes.push(
        el("div", { class: "card interaction" },
          el("p", {},
            el("span", { class: "severity severity-" + item.severity, text: SEVERITIES[item.severity] || item.severity }),
            " " + item.drugs.join(" + ")),
          el("p", { text: item.clinical_effect }),
          el("p", {}, el("strong", { text: "What to do: " }), item.management))
      );
    }
    for (const item of data.warnings || []) {
      nodes.push(
        el("div", { class: "card warning" },
          el("p", {}, el("span", { class: "severity severity-" + item.severity, text: SEVERITIES[item.severity] || item.severity }), " " + item.message),
          item.management && item.management !== item.message
            ? el("p", {}, el("strong", { text: "What to do: " }), item.management)
            : null)
      );
    }
    const unknown = (data.unrecognized || []).map((u) => (typeof u === "string" ? u : u.input));
    if (unknown.length) {
      nodes.push(el("p", { class: "notice", text: "Not recognised, so not checked: " + unknown.join(", ") }));
    }
    nodes.push(citations(data.citations), disclaimer(data.disclaimer));
    return nodes;
  }

  bind("form-interactions", async (form) => {
    const target = document.getElementById("result-interactions");
    const medications = form.medications.value.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean).slice(0, 30);
    if (medications.length < 1) {
      show(target, el("p", { role: "alert", text: "Enter at least one medicine." }));
      return;
    }
    const result = await api("POST", "/v1/interactions/check", await withProfile({ medications: medications }));
    const problem = failure(result, "The medicine check");
    show(target, ...(problem ? [problem] : renderInteractions(result.data).concat([profileNote()])));
  });

  const search = document.getElementById("drug-search");
  if (search) {
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      const q = search.value.trim();
      if (q.length < 2) return;
      timer = setTimeout(async () => {
        const result = await api("GET", "/v1/drugs?limit=8&q=" + encodeURIComponent(q));
        if (result.status !== 200 || !result.data) return;
        const options = result.data.items.map((hit) => el("option", { value: hit.name }));
        show(document.getElementById("drug-options"), ...options);
      }, 200);
    });
    document.getElementById("drug-add").addEventListener("click", () => {
      const name = search.value.trim();
      if (!name) return;
      const list = document.getElementById("medications");
      list.value = (list.value.trim() ? list.value.trim() + "\n" : "") + name;
      search.value = "";
      search.focus();
    });
  }

  // --- symptom check --------------------------------------------------------------------------------------
  function renderTriage(data) {
    const nodes = [];
    const emergency = data.level === "emergency" || data.level === "emergency_ambulance";
    if (emergency) {
      // Shown first and unmistakably: the number, then what to do.
      nodes.push(
        el("div", { class: "emergency", role: "alert" },
          el("p", {}, el("strong", { text: "Call " + data.emergency_number + " now." })),
          el("p", { text: data.advice }))
      );
    }
    nodes.push(
      el("p", {}, el("span", { class: "level level-" + data.level, text: LEVELS[data.level] || data.level }))
    );
    if (!emergency) nodes.push(el("p", { text: data.advice }));
    const flags = (data.red_flags || []).map((f) => el("li", { text: f.label }));
    if (flags.length) nodes.push(el("p", { text: "Warning signs we noticed:" }), el("ul", {}, ...flags));
    const causes = (data.possible_causes || []).slice(0, 5).map((c) => el("li", { text: c.label + " (" + c.likelihood + ")" }));
    if (causes.length) nodes.push(el("p", { text: "Possible causes (not a diagnosis):" }), el("ul", {}, ...causes));
    if (data.level === "self_care" && document.getElementById("otc")) {
      nodes.push(el("p", {}, el("a", { href: "#otc", id: "to-otc", text: "See self-care medicines that may help" })));
    }
    nodes.push(citations(data.citations), disclaimer(data.disclaimer));
    return nodes;
  }

  // The interview: one question at a time until the triage knowledge has enough, then the result.
  function renderQuestion(interview, target, text) {
    const q = interview.next_question;
    const legend = el("legend", { text: q.text });
    const answer = async (value) => {
      statusLine.textContent = "Working...";
      const result = await api("POST", "/v1/triage/interviews/" + interview.id + "/answers", {
        question_id: q.id,
        answer: value,
      });
      statusLine.textContent = "";
      showInterview(result, target, text);
    };
    const buttons = [];
    if (q.kind === "patient" && /age|old/i.test(q.text)) {
      const input = el("input", { id: "interview-number", type: "number", min: "0", max: "125", inputmode: "numeric" });
      const label = el("label", { for: "interview-number", text: "Your answer (years)" });
      const send = el("button", { type: "button", text: "Answer" });
      send.addEventListener("click", () => {
        const n = parseFloat(input.value);
        if (!Number.isNaN(n)) answer(n);
      });
      buttons.push(label, input, send);
    } else {
      for (const [value, label] of [["yes", "Yes"], ["no", "No"], ["unknown", "Not sure"]]) {
        const button = el("button", { type: "button", class: "answer", text: label });
        button.addEventListener("click", () => answer(value));
        buttons.push(button);
      }
    }
    const box = el("fieldset", { class: "card question" }, legend, ...buttons);
    show(target, el("p", { class: "notice", text: "Question " + (interview.answered + 1) }), box);
    const first = box.querySelector("button, input");
    if (first) first.focus();
  }

  function showInterview(result, target, text) {
    const problem = failure(result, "The symptom check");
    if (problem) return show(target, problem);
    const interview = result.data;
    if (interview.status === "done" && interview.result) {
      show(target, ...renderTriage(interview.result));
      const otcText = document.getElementById("otc-symptoms");
      if (otcText && !otcText.value) otcText.value = text;
      const alert = target.querySelector(".emergency");
      if (alert) alert.scrollIntoView();
      return;
    }
    renderQuestion(interview, target, text);
  }

  bind("form-triage", async (form) => {
    const target = document.getElementById("result-triage");
    const text = form.symptoms.value.trim();
    if (!text) {
      show(target, el("p", { role: "alert", text: "Describe your symptoms first." }));
      return;
    }
    const body = { text: text };
    const age = parseFloat(form.age.value);
    if (!Number.isNaN(age)) body.age = age;
    showInterview(await api("POST", "/v1/triage/interviews", body), target, text);
  });

  // --- self-care medicines --------------------------------------------------------------------------------
  function renderOtc(data) {
    const nodes = [];
    const level = data.triage && data.triage.level;
    if (level === "emergency" || level === "emergency_ambulance") {
      nodes.push(el("div", { class: "emergency", role: "alert" }, el("p", {}, el("strong", { text: data.advice }))));
    } else {
      nodes.push(el("p", { text: data.advice }));
    }
    for (const option of data.options || []) {
      nodes.push(
        el("div", { class: "card option" },
          el("p", {}, el("strong", { text: option.name })),
          el("p", { text: option.dose }),
          el("p", { text: "At most: " + option.max_daily }),
          ...(option.cautions || []).slice(0, 3).map((c) => el("p", { class: "notice", text: c })))
      );
    }
    for (const line of data.see_pharmacist_or_doctor || []) nodes.push(el("p", { class: "notice", text: line }));
    nodes.push(citations(data.citations), disclaimer(data.disclaimer));
    return nodes;
  }

  bind("form-otc", async (form) => {
    const target = document.getElementById("result-otc");
    const text = form["otc-symptoms"].value.trim();
    if (!text) {
      show(target, el("p", { role: "alert", text: "Tell us what you need help with first." }));
      return;
    }
    const result = await api("POST", "/v1/otc/recommend", await withProfile({ symptoms: text }));
    const problem = failure(result, "Self-care suggestions");
    show(target, ...(problem ? [problem] : renderOtc(result.data).concat([profileNote()])));
  });

  // --- medical words --------------------------------------------------------------------------------------
  bind("form-glossary", async (form) => {
    const target = document.getElementById("result-glossary");
    const q = form.term.value.trim();
    if (!q) return;
    const result = await api("GET", "/v1/glossary/terms?limit=3&q=" + encodeURIComponent(q));
    const problem = failure(result, "The glossary");
    if (problem) return show(target, problem);
    const items = result.data.items || [];
    if (!items.length) return show(target, el("p", { text: "We have no explanation for that word yet." }));
    show(target,
      ...items.map((t) => el("div", { class: "card term" }, el("p", {}, el("strong", { text: t.term })), el("p", { text: t.definition }))),
      disclaimer(result.data.disclaimer));
  });

  // --- ask a question (the Q&A service may not be installed: degrade to a notice) -------------------------
  bind("form-qa", async (form) => {
    const target = document.getElementById("result-qa");
    const question = form.question.value.trim();
    if (!question) return;
    const result = await api("POST", "/v1/qa/ask", await withProfile({ question: question }));
    if (result.status === 403) {
      return show(target, el("p", { class: "notice", role: "status", text: "Questions are not available in this app right now." }));
    }
    const problem = failure(result, "The question service");
    if (problem) return show(target, problem);
    const data = result.data || {};
    show(target,
      el("div", { class: "card answer" }, el("p", { text: data.answer || "No answer could be given." })),
      citations(data.citations),
      disclaimer(data.disclaimer));
  });
})();
