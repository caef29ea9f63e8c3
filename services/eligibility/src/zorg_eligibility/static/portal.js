// Mijn Zorgverlener: log in, activate, and the provider's claims, contracts, invitations and bank
// account, through each service's own API with the portal token. The token lives in this closure
// only (never in storage): a reload or "Uitloggen" ends the session.
"use strict";

(() => {
  const FORBIDDEN = "`<>/\"'&\\";
  // The rules of seed 001, as the server checks them (domain/accounts.py).
  const RULES = [
    { text: "Tussen de 8 en 12 tekens lang", ok: (p) => [...p].length >= 8 && [...p].length <= 12 },
    { text: "Minstens 1 cijfer", ok: (p) => /[0-9]/.test(p) },
    { text: "Minstens 1 letter", ok: (p) => /\p{L}/u.test(p) },
    { text: "Niet de tekens ` < > / \" ' & \\", ok: (p) => ![...p].some((c) => FORBIDDEN.includes(c)) },
  ];
  const STATUS = {
    received: "Ontvangen",
    pending: "In behandeling",
    approved: "Goedgekeurd",
    partially_approved: "Deels goedgekeurd",
    rejected: "Afgewezen",
  };
  const REASONS = {
    SUBMISSION_DEADLINE_PASSED: "De termijn voor indienen is verstreken",
    DUPLICATE: "Deze prestatie is al gedeclareerd",
    PROVIDER_UNKNOWN: "De AGB-code staat niet in ons register",
    PROGRAMME_NOT_RECOGNISED: "Het programma is niet erkend",
    PROGRAMME_DURATION_EXCEEDED: "De looptijd van het programma is verstreken",
    PRESTATION_INVALID_FOR_DATE: "De prestatiecode geldt niet op deze datum",
    PRESTATION_INVALID_FOR_PHASE: "De prestatie past niet bij de fase van het programma",
    PRESTATION_LIMIT_EXCEEDED: "Het maximum aantal van deze prestatie is bereikt",
    AWAITING_CONTRACT: "Wacht op het contract (de inkoop loopt nog)",
    PRESTATION_NOT_CONTRACTED: "De prestatie staat niet in uw contract",
    TARIFF_CAPPED: "Vergoed tot het afgesproken tarief",
    PROVIDER_NOT_ELIGIBLE: "U voldoet niet aan de voorwaarden van het inkoopbeleid",
    NON_CONTRACTED_RATE: "Vergoed tegen het tarief zonder contract",
    AUTHORISATION_REQUIRED: "Er is geen machtiging voor deze zorg",
    REVIEW_APPROVED: "Goedgekeurd na beoordeling",
    REVIEW_REJECTED: "Afgewezen na beoordeling",
  };
  const CONTRACT_STATUS = { draft: "Concept", signed: "Ondertekend", terminated: "Beëindigd" };
  const ROUTES = { follow: "Volgbeleid", digital: "Digitaal gecontracteerd", offer: "Offertetraject" };
  const INVITATION_STATUS = { invited: "Open", accepted: "Geaccepteerd", closed: "Gesloten" };
  const PAGE_SIZE = 10;
  const money = new Intl.NumberFormat("nl-NL", { style: "currency", currency: "EUR" });

  let bases = null;
  let session = null; // { token, agb, expires }
  let claimsPage = 1;

  const $ = (id) => document.getElementById(id);

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function dateNl(iso) {
    if (!iso) return "";
    const [y, m, d] = iso.slice(0, 10).split("-");
    return `${d}-${m}-${y}`;
  }

  // ---- talking to the services ------------------------------------------------------------

  async function loadConfig() {
    const response = await fetch("config.json", { headers: { Accept: "application/json" } });
    const body = await response.json();
    bases = {};
    for (const [service, base] of Object.entries(body.bases)) {
      // "" is the page's own service, one level up from /portal/; a path is routed by the ingress.
      bases[service] = new URL(base || "..", document.baseURI).href.replace(/\/$/, "");
    }
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || `Fout ${status}`);
      this.status = status;
      this.problem = problem || {};
    }
  }

  async function api(service, path, { method = "GET", json, form, headers = {} } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (session) init.headers.Authorization = `Bearer ${session.token}`;
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form !== undefined) {
      init.body = new URLSearchParams(form);
    }
    let response;
    try {
      response = await fetch(bases[service] + path, init);
    } catch (error) {
      throw new ApiError(0, { detail: "De dienst is op dit moment niet bereikbaar. Probeer het later opnieuw." });
    }
    if (response.status === 401 && session) {
      endSession("Uw sessie is verlopen. Log opnieuw in.");
      throw new ApiError(401, { detail: "Uw sessie is verlopen." });
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : null;
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // ---- messages ---------------------------------------------------------------------------

  function say(text, kind) {
    const box = $("melding");
    box.textContent = text;
    box.className = `notice${kind === "error" ? " error" : ""}`;
    box.hidden = !text;
  }

  function showErrors(form, error) {
    const box = form.querySelector(".fout");
    box.replaceChildren();
    const problem = error.problem || {};
    box.append(el("p", problem.detail || error.message));
    if (Array.isArray(problem.errors) && problem.errors.length) {
      const list = el("ul");
      for (const item of problem.errors) list.append(el("li", item.message));
      box.append(list);
      for (const item of problem.errors) {
        const field = form.querySelector(`[name="${CSS.escape(item.field)}"]`);
        if (field) field.setAttribute("aria-invalid", "true");
      }
    }
    box.hidden = false;
  }

  function clearErrors(form) {
    const box = form.querySelector(".fout");
    if (box) {
      box.hidden = true;
      box.replaceChildren();
    }
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  }

  // A form that calls `work(values)` on submit, shows what went wrong, and keeps one submit at a time.
  function onSubmit(id, work) {
    const form = $(id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        await work(Object.fromEntries(new FormData(form)), form);
      } catch (error) {
        if (error instanceof ApiError && error.status !== 401) showErrors(form, error);
        else if (!(error instanceof ApiError)) showErrors(form, new ApiError(0, { detail: String(error) }));
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- the password rules, checked as you type ---------------------------------------------

  function watchPassword(input) {
    const list = $(input.dataset.regels);
    const items = RULES.map((rule) => {
      const item = el("li");
      const mark = el("span", "", { "aria-hidden": "true", class: "teken" });
      const state = el("span", "", { class: "visually-hidden" });
      item.append(mark, el("span", rule.text), state);
      list.append(item);
      return { rule, item, mark, state };
    });
    const update = () => {
      for (const { rule, item, mark, state } of items) {
        const ok = input.value !== "" && rule.ok(input.value);
        item.className = input.value === "" ? "" : ok ? "ok" : "nok";
        mark.textContent = input.value === "" ? "•" : ok ? "✓" : "✗";
        state.textContent = input.value === "" ? "" : ok ? " (voldaan)" : " (nog niet voldaan)";
      }
    };
    input.addEventListener("input", update);
    update();
  }

  // ---- the session --------------------------------------------------------------------------

  function claimsOf(token) {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  }

  async function startSession(token) {
    const claims = claimsOf(token);
    session = { token, agb: claims.agb };
    $("aanmelden").hidden = true;
    $("omgeving").hidden = false;
    $("aanbieder-agb").textContent = session.agb;
    say("U bent ingelogd. Uw sessie duurt 15 minuten.");
    claimsPage = 1;
    await Promise.allSettled([loadProvider(), loadClaims(), loadContracts(), loadInvitations()]);
    $("kop-declaraties").focus();
  }

  function endSession(text) {
    session = null;
    for (const form of document.querySelectorAll("form")) form.reset();
    $("omgeving").hidden = true;
    $("aanmelden").hidden = false;
    say(text || "U bent uitgelogd.");
    $("inloggen-email").focus();
  }

  // ---- what a logged-in provider sees --------------------------------------------------------

  async function loadProvider() {
    const provider = await api("eligibility", `/providers/${session.agb}`);
    $("aanbieder-naam").textContent = provider.name;
    const account = provider.bank_account;
    $("bank-huidig").textContent = account
      ? `Huidig rekeningnummer: ${account.iban}, ten name van ${account.holder} (sinds ${dateNl(account.changed_on)}).`
      : "Er staat nog geen rekeningnummer bij ons geregistreerd.";
  }

  function reasonsText(claim) {
    return (claim.reasons || []).map((code) => REASONS[code] || code).join("; ");
  }

  async function loadClaims() {
    const status = $("declaraties-status").value;
    const query = new URLSearchParams({ agb: session.agb, page: claimsPage, page_size: PAGE_SIZE });
    if (status) query.set("status", status);
    const body = tbodyOf("declaraties");
    try {
      const page = await api("claims", `/claims?${query}`);
      body.replaceChildren();
      for (const claim of page.items) {
        const row = el("tr");
        row.append(
          el("td", claim.provider_reference),
          el("td", claim.prestation_code),
          el("td", dateNl(claim.service_date)),
          el("td", money.format(claim.claimed_cents / 100), { class: "getal" }),
          el("td", claim.allowed_cents === null ? "–" : money.format(claim.allowed_cents / 100), { class: "getal" }),
          el("td", STATUS[claim.status] || claim.status),
          el("td", reasonsText(claim)),
        );
        body.append(row);
      }
      const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
      $("declaraties-aantal").textContent =
        page.total === 1 ? "1 declaratie gevonden." : `${page.total} declaraties gevonden.`;
      $("declaraties-pagina").textContent = `Pagina ${page.page} van ${pages}`;
      $("declaraties-vorige").disabled = page.page <= 1;
      $("declaraties-volgende").disabled = page.page >= pages;
    } catch (error) {
      body.replaceChildren();
      $("declaraties-aantal").textContent = `De declaraties konden niet worden geladen: ${error.message}`;
    }
  }

  function tbodyOf(id) {
    return $(id).querySelector("tbody");
  }

  function contractYears(contract) {
    const first = Number(contract.start_date.slice(0, 4));
    const last = Number(contract.end_date.slice(0, 4));
    const years = [];
    for (let year = first; year <= last; year += 1) years.push(year);
    return years.join(", ");
  }

  async function loadContracts() {
    const body = tbodyOf("contracten");
    try {
      const page = await api("contracting", `/contracts?agb=${session.agb}&page_size=100`);
      body.replaceChildren();
      for (const contract of page.items) {
        const row = el("tr");
        row.append(
          el("td", contract.sector),
          el("td", ROUTES[contract.route] || contract.route),
          el("td", contractYears(contract)),
          el("td", `${dateNl(contract.start_date)} t/m ${dateNl(contract.end_date)}`),
          el("td", CONTRACT_STATUS[contract.status] || contract.status),
          el("td", contract.version),
        );
        body.append(row);
      }
      $("contracten-aantal").textContent = page.total ? `${page.total} contract(en).` : "U hebt nog geen contracten.";
    } catch (error) {
      body.replaceChildren();
      $("contracten-aantal").textContent = `De contracten konden niet worden geladen: ${error.message}`;
    }
  }

  // The questions of the policy's questionnaire an invitation carries (contracting: id, text_nl,
  // answer: yes_no | number | text | date, required).
  function questionsOf(invitation) {
    const list = Array.isArray(invitation.questionnaire) ? invitation.questionnaire : [];
    return list.map((q, n) => ({
      id: String(q.id ?? n + 1),
      text: q.text_nl ?? `Vraag ${n + 1}`,
      kind: String(q.answer ?? "text").toLowerCase(),
      required: q.required !== false,
    }));
  }

  function questionField(invitation, question, n) {
    const id = `vraag-${invitation.id}-${n}`;
    const wrap = el("div", null, { class: "field" });
    if (question.kind === "yes_no") {
      const set = el("fieldset");
      set.append(el("legend", question.text));
      for (const [value, label] of [["true", "Ja"], ["false", "Nee"]]) {
        const input = el("input", null, { type: "radio", name: `q:${question.id}`, id: `${id}-${value}`, value });
        if (question.required) input.required = true;
        const lab = el("label", label, { for: `${id}-${value}`, class: "keuze" });
        set.append(input, lab);
      }
      wrap.append(set);
      return wrap;
    }
    wrap.append(el("label", question.text, { for: id }));
    const type = { number: "number", date: "date" }[question.kind] || "text";
    const input = el("input", null, { id, name: `q:${question.id}`, type, maxlength: "2000" });
    if (question.required) input.required = true;
    wrap.append(input);
    return wrap;
  }

  function answerValue(question, raw) {
    if (question.kind === "yes_no") return raw === "true";
    if (question.kind === "number") return Number(raw);
    return raw;
  }

  function invitationCard(invitation) {
    const card = el("article", null, { class: "kaart" });
    card.append(el("h3", `Uitnodiging ${invitation.policy_id}`));
    const facts = el("dl");
    const add = (term, value) => facts.append(el("dt", term), el("dd", value));
    add("Status", INVITATION_STATUS[invitation.status] || invitation.status);
    add("Uitgenodigd op", dateNl(invitation.invited_on));
    add("Looptijd", `${invitation.contract_years} jaar`);
    if (invitation.accepted_on) add("Geaccepteerd op", dateNl(invitation.accepted_on));
    card.append(facts);
    if (invitation.status !== "invited") return card;

    const questions = questionsOf(invitation);
    const form = el("form", null, { novalidate: "" });
    form.append(el("div", null, { class: "fout", role: "alert", hidden: "" }));
    if (questions.length) {
      form.append(el("h4", "Vragenlijst"));
      questions.forEach((question, n) => form.append(questionField(invitation, question, n)));
    }
    const signatoryId = `ondertekenaar-${invitation.id}`;
    const signatory = el("div", null, { class: "field" });
    signatory.append(
      el("label", "Naam ondertekenaar", { for: signatoryId }),
      el("input", null, { id: signatoryId, name: "signatory", type: "text", maxlength: "200", autocomplete: "name" }),
    );
    form.append(signatory, el("button", "Accepteren en ondertekenen", { type: "submit" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const values = Object.fromEntries(new FormData(form));
      const body = {};
      if (values.signatory) body.signatory = values.signatory;
      if (questions.length) {
        // An unanswered question is left out: contracting names every required one that is missing.
        body.answers = questions
          .filter((q) => (values[`q:${q.id}`] ?? "") !== "")
          .map((q) => ({ question: q.id, answer: answerValue(q, values[`q:${q.id}`]) }));
      }
      try {
        await api("contracting", `/invitations/${encodeURIComponent(invitation.id)}/accept`, {
          method: "POST",
          json: body,
        });
        say("De uitnodiging is geaccepteerd en het contract is ondertekend.");
        await Promise.allSettled([loadInvitations(), loadContracts()]);
      } catch (error) {
        if (error.status !== 401) showErrors(form, error);
      }
    });
    card.append(form);
    return card;
  }

  async function loadInvitations() {
    const holder = $("uitnodigingen");
    try {
      const page = await api("contracting", `/invitations?agb=${session.agb}&page_size=50`);
      holder.replaceChildren(...page.items.map(invitationCard));
      $("uitnodigingen-aantal").textContent = page.total ? "" : "U hebt geen uitnodigingen.";
    } catch (error) {
      holder.replaceChildren();
      $("uitnodigingen-aantal").textContent = `De uitnodigingen konden niet worden geladen: ${error.message}`;
    }
  }

  // ---- wiring -------------------------------------------------------------------------------

  function wire() {
    for (const input of document.querySelectorAll("input[data-regels]")) watchPassword(input);

    onSubmit("form-inloggen", async (values) => {
      const body = await api("eligibility", "/portal/token", {
        method: "POST",
        form: { grant_type: "password", username: values.username, password: values.password },
      });
      await startSession(body.access_token);
    });

    onSubmit("form-activeren", async (values, form) => {
      await api("eligibility", "/portal/activate", { method: "POST", json: values });
      form.reset();
      form.querySelector("input[data-regels]").dispatchEvent(new Event("input"));
      say("Uw account is geactiveerd. U kunt nu inloggen met uw e-mailadres en het nieuwe wachtwoord.");
      $("inloggen-email").focus();
    });

    onSubmit("form-vergeten", async (values) => {
      await api("eligibility", "/portal/password-reset", { method: "POST", json: values });
      say("Als dit e-mailadres bij een account hoort, hebt u een e-mail met een code ontvangen.");
      $("herstellen-code").focus();
    });

    onSubmit("form-herstellen", async (values, form) => {
      await api("eligibility", "/portal/password-reset/confirm", { method: "POST", json: values });
      form.reset();
      form.querySelector("input[data-regels]").dispatchEvent(new Event("input"));
      say("Uw nieuwe wachtwoord is ingesteld. U kunt nu inloggen.");
      $("inloggen-email").focus();
    });

    onSubmit("form-bank", async (values, form) => {
      await api("eligibility", `/providers/${session.agb}/bank-account`, { method: "PUT", json: values });
      form.reset();
      say("Het bankrekeningnummer is gewijzigd. U krijgt hiervan een bevestiging per e-mail.");
      await loadProvider();
    });

    onSubmit("form-wachtwoord", async (values, form) => {
      await api("eligibility", "/portal/password", { method: "POST", json: values });
      form.reset();
      form.querySelector("input[data-regels]").dispatchEvent(new Event("input"));
      say("Uw wachtwoord is gewijzigd.");
    });

    $("form-declaraties").addEventListener("submit", (event) => {
      event.preventDefault();
      claimsPage = 1;
      loadClaims();
    });
    $("declaraties-vorige").addEventListener("click", () => {
      claimsPage = Math.max(1, claimsPage - 1);
      loadClaims();
    });
    $("declaraties-volgende").addEventListener("click", () => {
      claimsPage += 1;
      loadClaims();
    });
    $("uitloggen").addEventListener("click", () => endSession());
  }

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    try {
      await loadConfig();
    } catch (error) {
      say("Mijn Zorgverlener kan op dit moment niet worden geladen. Probeer het later opnieuw.", "error");
    }
  });
})();
