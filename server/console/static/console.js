// The console's own script: keeps what is typed in a form across a sign-in (a draft in
// sessionStorage, restored when the page opens again), and stops double submits.
(function () {
  "use strict";
  var KEY = "recheck-draft:";

  function draftKey(form) { return KEY + location.pathname + "#" + (form.getAttribute("data-draft") || ""); }

  function save(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "_csrf" || el.type === "password" || el.type === "hidden") return;
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) (data[el.name] = data[el.name] || []).push(el.value); }
      else data[el.name] = [el.value];
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify(data)); } catch (e) { /* storage full or off */ }
  }

  function restore(form) {
    var raw = null;
    try { raw = sessionStorage.getItem(draftKey(form)); } catch (e) { return; }
    if (!raw) return;
    var data = JSON.parse(raw);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !(el.name in data) || el.type === "hidden" || el.type === "password") return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = data[el.name].indexOf(el.value) >= 0;
      else el.value = data[el.name][0];
    });
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      restore(form);
      form.addEventListener("input", function () { save(form); });
      form.addEventListener("change", function () { save(form); });
    });
    if (document.body.getAttribute("data-saved") === "1") {
      // the server accepted a form: its draft is done with
      Object.keys(sessionStorage).forEach(function (k) { if (k.indexOf(KEY) === 0) sessionStorage.removeItem(k); });
    }
  });

  // One submit per click: the button is disabled until the page answers (the server refuses
  // a repeated token as well, see the assignment form's nonce).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-sending") === "1") { event.preventDefault(); return; }
    form.setAttribute("data-sending", "1");
    if (form.hasAttribute("data-draft")) save(form);
    setTimeout(function () { form.removeAttribute("data-sending"); }, 4000);
  }, true);
})();

// Refusals (4xx) carry a message for the page: let htmx swap them in like any answer; a 401
// carries HX-Redirect to the sign-in page, which htmx follows.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "401", swap: false },
      { code: "[4]..", swap: true, error: false },
      { code: "...", swap: false, error: true },
    ];
  }
});
