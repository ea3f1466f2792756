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
