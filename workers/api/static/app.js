// The web page's live parts: ask (POST /v1/sessions), watch (server-sent events), cancel and
// steer. Model and page text is hostile: it only ever goes into textContent, never innerHTML;
// the one HTML inserted (the outcome) is rendered and escaped by the server.

const CSRF = { "X-DeepResearch-CSRF": "1" };
const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function isWebUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url);
}

function link(url) {
  if (!isWebUrl(url)) return el("span", url);
  const a = el("a", url);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// -- the ask form ------------------------------------------------------------------------------

function setUpAsk() {
  const form = $("#ask-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("#ask-error");
    message.textContent = "";
    const data = new FormData(form);
    for (const file of data.getAll("files[]")) {
      if (file instanceof File && !file.name && file.size === 0) data.delete("files[]");
    }
    if ($("#mode").value !== "heavy") data.delete("branches");
    await startSession({ body: data, headers: CSRF }, message, $("#ask-button"));
  });
}

// POST /v1/sessions (or a fork), then open the new session's page (or say why not, in one line)
async function startSession(request, message, button, path = "/v1/sessions") {
  button.disabled = true;
  try {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      ...request,
    });
    if (!response.ok) {
      message.textContent = await errorOf(response);
      return;
    }
    const started = await response.json();
    window.location.assign(`/sessions/${encodeURIComponent(started.id)}`);
  } catch (failure) {
    message.textContent = `cannot reach the API: ${failure}`;
  } finally {
    button.disabled = false;
  }
}

// -- the session page --------------------------------------------------------------------------

function showProgress(progress) {
  if (progress.kind === "heavy") {
    $("#live-node").textContent = `heavy · ${progress.stage}`;
    const running = Object.values(progress.running || {});
    const sum = (key) => running.reduce((total, p) => total + (p[key] || 0), 0);
    $("#live-step").textContent = String(sum("step"));
    $("#live-llm").textContent = String(sum("llm_calls"));
    $("#live-tools").textContent = String(sum("tool_calls"));
    $("#live-tokens").textContent = String(sum("tokens"));
    $("#live-sources").textContent = String(sum("sources"));
    $("#live-elapsed").textContent = "";
    $("#live-action").textContent = "";
    showBranches(progress);
  } else {
    $("#live-node").textContent = progress.node;
    $("#live-step").textContent = String(progress.step);
    $("#live-llm").textContent = String(progress.llm_calls);
    $("#live-tools").textContent = String(progress.tool_calls);
    $("#live-tokens").textContent = String(progress.tokens);
    $("#live-sources").textContent = String(progress.sources);
    $("#live-elapsed").textContent = `${Math.round(progress.elapsed_seconds)} s`;
    $("#live-action").textContent = progress.last_action || "";
    const spent = progress.spent;
    if (spent) {
      $("#live-spent").textContent =
        `${spent.searches} searches · ${spent.pages} pages · $${spent.usd.toFixed(4)}`;
    }
    const waiting = $("#live-budget");
    waiting.hidden = !progress.awaiting_budget;
    waiting.textContent = progress.awaiting_budget === "tenant"
      ? `awaiting budget: ${progress.held}`
      : progress.awaiting_budget
      ? `awaiting budget: its ${progress.awaiting_budget} budget is spent; POST ` +
        `/v1/sessions/${document.body.dataset.session}/budget (or deepresearch budget) lets it go on`
      : "";
  }
  if (progress.plan) showPlan(progress.plan);
  const cancelling = $("#live-cancelling");
  cancelling.hidden = !progress.cancelling;
  cancelling.textContent = progress.cancelling ? `cancelling: ${progress.cancelling}` : "";
}

// -- the plan (`"plan": true`): shown, and while it waits, approved (edited) or rejected ----

let planShown = "";

function showPlan(plan) {
  $("#plan-card").hidden = false;
  const waiting = plan.status === "awaiting_approval";
  $("#plan-status").textContent = waiting
    ? "Waiting for your approval: nothing is searched until you decide."
    : `${plan.status}${plan.edited ? " (edited)" : ""}${plan.note ? `: ${plan.note}` : ""}`;
  $("#plan-text").textContent = plan.plan || "";
  const questions = $("#plan-questions");
  questions.replaceChildren(
    ...(plan.questions || []).map((q, i) => {
      const item = el("li", q);
      const answer = (plan.answers || [])[i];
      if (answer) item.append(el("div", `answer: ${answer}`, "muted"));
      return item;
    }),
  );
  const form = $("#plan-form");
  form.hidden = !waiting;
  const key = JSON.stringify([plan.status, plan.plan, plan.questions]);
  if (!waiting || key === planShown) return;
  planShown = key;  // fill the form once per draft, so typing is not overwritten
  $("#plan-edit").value = plan.plan || "";
  $("#plan-answers").replaceChildren(
    ...(plan.questions || []).map((q, i) => {
      const label = el("label", q);
      const input = el("input");
      input.type = "text";
      input.name = "answer";
      input.id = `plan-answer-${i + 1}`;
      label.append(input);
      return label;
    }),
  );
}

function setUpPlan(base) {
  const message = $("#plan-message");
  $("#plan-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const edited = $("#plan-edit").value;
    const drafted = $("#plan-text").textContent;
    const answers = [...document.querySelectorAll("#plan-answers input")].map((i) => i.value);
    while (answers.length && !answers[answers.length - 1].trim()) answers.pop();
    const body = { answers };
    if (edited.trim() !== drafted.trim()) body.plan = edited;
    $("#approve-button").disabled = true;
    const error = await post(`${base}/approve`, body);
    message.textContent = error || "Approved: the research starts with this plan.";
    $("#approve-button").disabled = false;
  });
  $("#reject-button").addEventListener("click", async () => {
    const error = await post(`${base}/reject`, { reason: $("#reject-reason").value });
    message.textContent = error || "Rejected: the session ends without researching.";
  });
}

function showBranches(progress) {
  const table = $("#branches");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const branch of progress.branches || []) {
    const row = document.createElement("tr");
    const name = el("td");
    const a = el("a", branch.session_id);
    a.href = `/sessions/${encodeURIComponent(branch.session_id)}`;
    name.append(a);
    const live = (progress.running || {})[String(branch.branch)];
    const now = live ? `step ${live.step} · ${live.node} · ${live.last_action || ""}` : branch.answer || "";
    row.append(name, el("td", `${branch.strategy} (t=${branch.temperature})`), el("td", branch.status), el("td", now));
    body.append(row);
  }
  table.hidden = (progress.branches || []).length === 0;
}

const DETAILS = ["thought", "tool_call", "invalid_tool_call", "answer", "observation", "failure", "last_failure"];
const seenSources = new Set();
let turnsSeen = Number(document.body.dataset.stepsBefore || 0); // a fork's: the original's

// A model turn after the first offers "Fork here": a new session that takes over the steps
// before it from this one's record and redoes this turn live, with the changes asked for.
function forkButton(turn) {
  const button = el("button", "Fork here", "secondary fork-here");
  button.type = "button";
  button.dataset.atStep = String(turn - 1);
  button.addEventListener("click", () => {
    const form = $("#fork-form");
    form.dataset.atStep = button.dataset.atStep;
    $("#fork-at").textContent = `Steps 1–${turn - 1} from this session, live from step ${turn}:`;
    form.hidden = false;
    $("#fork-model").focus();
  });
  return button;
}

function showStep(step) {
  const item = el("li", null, `step step-${step.status.replace(/\s+/g, "-")}`);
  item.id = `step-${step.step}`;
  const head = el("div", null, "step-head");
  head.append(el("strong", step.summary || step.node));
  const timing = step.duration_s !== undefined ? ` · ${step.duration_s.toFixed(2)} s` : "";
  const attempts = step.attempts > 1 ? ` · attempt ${step.attempts}` : "";
  head.append(el("span", ` ${step.status}${attempts}${timing}`, "muted"));
  if (step.node === "think" && document.body.dataset.heavy !== "true") {
    turnsSeen += 1;
    if (turnsSeen > 1) head.append(forkButton(turnsSeen));
  }
  item.append(head);
  for (const key of DETAILS) {
    if (step[key] === undefined) continue;
    const value = typeof step[key] === "string" ? step[key] : JSON.stringify(step[key]);
    const row = el("div", null, "step-detail");
    row.append(el("span", `${key}: `, "key"), el("span", value));
    item.append(row);
  }
  if (step.session_id && step.node === "branch") {
    const a = el("a", `open ${step.session_id}`);
    a.href = `/sessions/${encodeURIComponent(step.session_id)}`;
    item.append(a);
  }
  $("#steps").append(item);
  if (step.url && step.status === "completed" && !seenSources.has(step.url)) {
    seenSources.add(step.url);
    const entry = el("li");
    entry.append(link(step.url));
    $("#sources-so-far").append(entry);
  }
}

async function showOutcome(sessionId, status) {
  $("#status").textContent = status;
  $("#status").className = `status status-${status}`;
  document.body.dataset.status = status;
  $("#live").hidden = true;
  $("#plan-card").hidden = true; // the outcome shows the plan as decided
  const response = await fetch(`/sessions/${encodeURIComponent(sessionId)}/outcome`, {
    credentials: "same-origin",
  });
  if (response.ok) $("#outcome").innerHTML = await response.text(); // escaped by the server
}

async function showQuestion(sessionId) {
  // A session just started may not have its question indexed yet when the page is rendered.
  if ($("#question").textContent !== sessionId) return;
  const response = await fetch(`/v1/sessions/${encodeURIComponent(sessionId)}`, {
    credentials: "same-origin",
  });
  if (response.ok) {
    const view = await response.json();
    if (view.question) $("#question").textContent = view.question;
  }
}

function watch(sessionId) {
  const source = new EventSource(`/v1/sessions/${encodeURIComponent(sessionId)}/events`);
  source.addEventListener("progress", (event) => {
    $("#live").hidden = false;
    showProgress(JSON.parse(event.data));
    showQuestion(sessionId);
  });
  source.addEventListener("step", (event) => showStep(JSON.parse(event.data)));
  source.addEventListener("result", (event) => {
    source.close();
    const result = JSON.parse(event.data);
    if (result.question) $("#question").textContent = result.question;
    const ended = ["cancelled", "rejected"].includes(result.termination);
    showOutcome(sessionId, ended ? "cancelled" : "completed");
  });
  source.addEventListener("failed", (event) => {
    source.close();
    showOutcome(sessionId, JSON.parse(event.data).status || "failed");
  });
  source.addEventListener("error", (event) => {
    if (event.data) $("#control-message").textContent = JSON.parse(event.data).error;
  });
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...CSRF, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  return response.ok ? "" : await errorOf(response);
}

function setUpControls(sessionId) {
  const base = `/v1/sessions/${encodeURIComponent(sessionId)}`;
  const message = $("#control-message");
  setUpPlan(base);
  $("#cancel-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#cancel-button").disabled = true;
    const error = await post(`${base}/cancel`, { reason: $("#cancel-reason").value });
    message.textContent = error || "Cancelling: the model gives its best answer after the current step.";
    if (error) $("#cancel-button").disabled = false;
  });
  $("#steer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("#steer-note");
    const error = await post(`${base}/steer`, { note: note.value });
    message.textContent = error || "Note queued: the model sees it before its next turn.";
    if (!error) note.value = "";
  });
}

// -- a follow-up of a finished session (its form arrives with the outcome: one listener) ----

function setUpFollowUp() {
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "follow-up-form") return;
    event.preventDefault();
    const message = $("#follow-up-error");
    message.textContent = "";
    const body = { question: $("#follow-up-question").value, follow_up_of: form.dataset.followUpOf };
    await startSession(
      { body: JSON.stringify(body), headers: { ...CSRF, "Content-Type": "application/json" } },
      message,
      $("#follow-up-button"),
    );
  });
}

function setUpFork(sessionId) {
  const form = $("#fork-form");
  $("#fork-close").addEventListener("click", () => (form.hidden = true));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("#fork-error");
    message.textContent = "";
    const body = { at_step: Number(form.dataset.atStep) };
    const model = $("#fork-model").value.trim();
    const question = $("#fork-question").value.trim();
    if (model) body.model = model;
    if (question) body.question = question;
    await startSession(
      { body: JSON.stringify(body), headers: { ...CSRF, "Content-Type": "application/json" } },
      message,
      $("#fork-button"),
      `/v1/sessions/${encodeURIComponent(sessionId)}/fork`,
    );
  });
}

function setUpSession() {
  const sessionId = document.body.dataset.session;
  if (!sessionId) return;
  setUpFollowUp();
  setUpFork(sessionId);
  setUpControls(sessionId);
  watch(sessionId);
}

// -- schedules: create one, pause / unpause / run now / delete --------------------------------

function setUpSchedules() {
  const form = $("#schedule-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { question: $("#schedule-question").value, notify: $("#schedule-notify").value };
    for (const name of ["every", "cron"]) {
      const value = $(`#schedule-${name}`).value.trim();
      if (value) body[name] = value;
    }
    const webhook = $("#schedule-webhook").value.trim();
    if (webhook) body.webhook = { url: webhook };
    if ($("#schedule-report").checked) body.report = true;
    const error = await post("/v1/schedules", body);
    $("#schedule-error").textContent = error;
    if (!error) window.location.reload();
  });
  document.addEventListener("click", async (event) => {
    const button = event.target;
    if (!(button instanceof HTMLButtonElement) || !button.dataset.action) return;
    const item = button.closest("[data-schedule]");
    if (!item) return;
    const base = `/v1/schedules/${encodeURIComponent(item.dataset.schedule)}`;
    const action = button.dataset.action;
    button.disabled = true;
    let error = "";
    if (action === "delete") {
      const response = await fetch(base, { method: "DELETE", headers: CSRF, credentials: "same-origin" });
      error = response.ok ? "" : await errorOf(response);
    } else {
      error = await post(`${base}/${action}`, {});
    }
    $("#schedule-message").textContent = error;
    if (!error) window.location.reload();
    button.disabled = false;
  });
}

setUpAsk();
setUpSession();
setUpSchedules();
