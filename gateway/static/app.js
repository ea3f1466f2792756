// moncompte: progressive enhancement only; every page works without it (CSP: script-src 'self').
(function () {
  "use strict";

  // The show/hide eye of the password fields.
  document.querySelectorAll("[data-toggle-password]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-toggle-password"));
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      button.setAttribute("aria-label", show ? "Masquer le mot de passe" : "Afficher le mot de passe");
    });
  });

  // The live checklist of the password criteria (the server re-checks them through identity).
  var list = document.querySelector("[data-criteria-for]");
  if (!list) { return; }
  var field = document.getElementById(list.getAttribute("data-criteria-for"));
  if (!field) { return; }
  var tests = {
    min_length: function (value, item) { return value.length >= parseInt(item.getAttribute("data-min") || "0", 10); },
    upper: function (value) { return /\p{Lu}/u.test(value); },
    lower: function (value) { return /\p{Ll}/u.test(value); },
    digit: function (value) { return /\d/.test(value); },
    special: function (value) { return /[^\p{L}\p{N}\s]/u.test(value); }
  };
  function update() {
    list.querySelectorAll("[data-code]").forEach(function (item) {
      var test = tests[item.getAttribute("data-code")];
      if (!test) { return; }
      var ok = test(field.value, item);
      item.classList.toggle("criterion--ok", ok);
      var tick = item.querySelector(".tick");
      if (tick) { tick.textContent = ok ? "\u2713" : "\u25CB"; }
      var state = item.querySelector(".sr-only");
      if (state) { state.textContent = ok ? " : respecté" : " : non respecté"; }
    });
  }
  field.addEventListener("input", update);
  if (field.value) { update(); }
})();

// Passkeys (WebAuthn, issue 15): a form with data-webauthn="create" or "get" and its options
// (JSON, base64url) runs the browser's ceremony on submit, puts the result in its hidden
// "credential" field, then posts. Elements marked data-webauthn-only show only where the browser
// offers passkeys; the server verifies everything.
(function () {
  "use strict";
  var supported = typeof window.PublicKeyCredential !== "undefined" && !!navigator.credentials;
  document.querySelectorAll("[data-webauthn-only]").forEach(function (el) { el.hidden = !supported; });

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (d) { return {type: d.type, id: toBytes(d.id), transports: d.transports}; });
  }
  function creation(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return {publicKey: o};
  }
  function request(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return {publicKey: o};
  }
  function asJson(c) {
    var r = c.response, body = {id: c.id, rawId: toText(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {clientDataJSON: toText(r.clientDataJSON)}};
    if (r.attestationObject) {
      body.response.attestationObject = toText(r.attestationObject);
      body.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      body.response.authenticatorData = toText(r.authenticatorData);
      body.response.signature = toText(r.signature);
      body.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(body);
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var error = form.querySelector("[data-webauthn-error]");
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-done")) { return; }
      event.preventDefault();
      if (!supported) { if (error) { error.hidden = false; } return; }
      var options = JSON.parse(form.getAttribute("data-options"));
      var ceremony = form.getAttribute("data-webauthn") === "create"
        ? navigator.credentials.create(creation(options)) : navigator.credentials.get(request(options));
      ceremony.then(function (credential) {
        form.querySelector("input[name=credential]").value = asJson(credential);
        form.setAttribute("data-done", "1");
        form.submit();
      }).catch(function () { if (error) { error.hidden = false; } });
    });
  });
})();
