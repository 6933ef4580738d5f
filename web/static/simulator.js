// The phone simulator: plays the IVR's TwiML (as JSON from /simulator/api/*) like a phone
// would: speaks each <Say>, waits at <Gather> for keys or speech, follows <Redirect>, joins
// the queue at <Enqueue>, and ends at <Hangup> or at the end of a document. Plain JS.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const call = { sid: null, caller: "", called: "", gather: null, digits: "", timer: null };
  let turn = 0;
  const csrfToken = () => JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      // The page's CSRF token (base.html puts it on <body> for htmx): the simulator's calls are
      // POSTs from a browser that holds the console's cookies.
      headers: { "Content-Type": "application/json", "x-csrftoken": csrfToken() },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function line(kind, text, lang) {
    const div = document.createElement("div");
    div.className = `line ${kind}`;
    if (lang) {
      const tag = document.createElement("span");
      tag.className = "lang";
      tag.textContent = lang;
      div.appendChild(tag);
    }
    div.appendChild(document.createTextNode(text));
    $("transcript").appendChild(div);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function speak(text, lang) {
    if (!$("aloud").checked || !("speechSynthesis" in window)) return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = lang || "hi-IN";
    window.speechSynthesis.speak(utterance);
  }

  function status(text) {
    $("status").textContent = text;
  }

  function waiting(gather) {
    call.gather = gather;
    call.digits = "";
    $("display").textContent = "";
    const speech = gather && gather.input.includes("speech");
    document.querySelectorAll("#keys button").forEach((b) => (b.disabled = !gather));
    $("say").disabled = !speech;
    $("silence").disabled = !gather;
    turn += 1;
    $("status").dataset.turn = String(turn);
    if (gather) {
      status(speech ? "Listening: press keys or say something." : "Listening: press keys.");
    }
  }

  function busy() {
    clearTimeout(call.timer);
    call.gather = null;
    document.querySelectorAll("#keys button").forEach((b) => (b.disabled = true));
    $("say").disabled = $("silence").disabled = true;
  }

  function sayVerb(verb) {
    line("ivr", verb.text || "", verb.language);
    speak(verb.text || "", verb.language);
  }

  async function play(verbs) {
    for (const verb of verbs) {
      if (verb.verb === "say") sayVerb(verb);
      else if (verb.verb === "play") line("note", `(recorded prompt ${verb.text})`);
      else if (verb.verb === "gather") {
        (verb.children || []).forEach((c) => (c.verb === "say" ? sayVerb(c) : null));
        waiting(verb);
        return;
      } else if (verb.verb === "redirect") {
        return send(verb.text, {});
      } else if (verb.verb === "enqueue") {
        line("note", `(waiting in the "${verb.text}" queue for a person)`);
        const hold = await api("/simulator/api/turn", turnBody(verb.waitUrl, {}));
        hold.verbs.filter((v) => v.verb === "say").forEach(sayVerb);
        waiting(null);
        status("In the queue for a call agent (nobody answers in the simulator). Hang up to end.");
        return;
      } else if (verb.verb === "hangup") break;
    }
    return ended();
  }

  function turnBody(url, input) {
    return { call_sid: call.sid, caller: call.caller, called: call.called, url, ...input };
  }

  async function send(url, input) {
    busy();
    status("…");
    try {
      const answer = await api("/simulator/api/turn", turnBody(url, input));
      await play(answer.verbs);
    } catch (error) {
      line("note", `(the line failed: ${error.message})`);
      await ended();
    }
  }

  function submit(input) {
    const gather = call.gather;
    if (!gather) return;
    if (input.digits) line("caller", `⌨ ${input.digits}`);
    else if (input.speech) line("caller", `🗣 ${input.speech}`);
    else line("note", "(silence)");
    send(gather.action, input);
  }

  function press(key) {
    const gather = call.gather;
    if (!gather) return;
    clearTimeout(call.timer);
    const finish = gather.finishOnKey || "#";
    if (key === finish) return submit({ digits: call.digits });
    call.digits += key;
    $("display").textContent = call.digits;
    const wanted = parseInt(gather.numDigits || "0", 10);
    if (wanted && call.digits.length >= wanted) return submit({ digits: call.digits });
    // Like Twilio: what was keyed is sent when the caller stops keying for `timeout` s.
    call.timer = setTimeout(() => submit({ digits: call.digits }), 1000 * (gather.timeout || 5));
  }

  async function ended() {
    busy();
    if (!call.sid) return;
    const sid = call.sid;
    call.sid = null;
    $("dial").disabled = false;
    $("hangup").disabled = true;
    turn += 1;
    $("status").dataset.turn = String(turn);
    try {
      const outcome = await api("/simulator/api/hangup", {
        call_sid: sid, caller: call.caller, called: call.called,
      });
      const where = outcome.step ? ` at step "${outcome.step}"` : "";
      const ref = outcome.reference ? `: request ${outcome.reference}` : "";
      status(`Call ended, logged as ${outcome.status}${outcome.status === "abandoned" ? where : ""}${ref}.`);
    } catch (error) {
      status(`Call ended (${error.message}).`);
    }
    $("status").dataset.ended = "true";
  }

  async function dial() {
    $("transcript").innerHTML = "";
    $("status").dataset.ended = "";
    call.caller = $("caller").value.trim();
    call.called = $("called").value;
    $("dial").disabled = true;
    $("hangup").disabled = false;
    status("Ringing…");
    try {
      const answer = await api("/simulator/api/dial", { caller: call.caller, called: call.called });
      call.sid = answer.call_sid;
      await play(answer.verbs);
    } catch (error) {
      status(`Could not call: ${error.message}`);
      $("dial").disabled = false;
      $("hangup").disabled = true;
    }
  }

  $("dial").addEventListener("click", dial);
  $("hangup").addEventListener("click", () => {
    if ("speechSynthesis" in window) window.speechSynthesis.cancel();
    line("note", "(you hung up)");
    ended();
  });
  document.querySelectorAll("#keys button").forEach((b) =>
    b.addEventListener("click", () => press(b.dataset.key)),
  );
  $("say").addEventListener("click", () => {
    const text = $("speech").value.trim();
    if (text) {
      $("speech").value = "";
      submit({ speech: text });
    }
  });
  $("speech").addEventListener("keydown", (e) => {
    if (e.key === "Enter") $("say").click();
  });
  $("silence").addEventListener("click", () => submit({}));
  document.addEventListener("keydown", (e) => {
    if (e.target === $("speech") || e.target === $("caller")) return;
    if (/^[0-9*#]$/.test(e.key)) press(e.key);
  });
})();
