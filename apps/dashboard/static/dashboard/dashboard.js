/* Tessera dashboard behaviour: copy buttons, confirmations, menus, htmx errors.
   Event delegation, so content swapped in by htmx works without re-binding. */
(function () {
  "use strict";

  function copyText(input) {
    var value = input.value;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(value);
    }
    // Fallback for plain-http hosts, where the async clipboard API is unavailable.
    input.focus();
    input.select();
    input.setSelectionRange(0, value.length);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    return copied ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) {
      var input = document.querySelector(button.getAttribute("data-copy-target"));
      var label = button.querySelector("[data-copy-label]") || button;
      copyText(input).then(function () {
        label.textContent = "Copied";
      }, function () {
        // Leave the key selected so the user can press Ctrl/Cmd+C themselves.
        input.focus();
        input.select();
        label.textContent = "Press Ctrl+C";
      }).then(function () {
        setTimeout(function () { label.textContent = "Copy"; }, 2000);
      });
      return;
    }
    // Close any open dropdown when clicking outside it.
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-copy-source]")) { event.target.select(); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) { summary.focus(); }
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.setAttribute("role", "alert");
    alert.textContent = status === 403
      ? "You don't have permission to do that. Reload the page to see your current access."
      : "That didn't work (error " + status + "). Reload the page and try again.";
    flash.appendChild(alert);
  });

  document.addEventListener("htmx:sendError", function () {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    var alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.setAttribute("role", "alert");
    alert.textContent = "Couldn't reach Tessera. Check your connection and try again.";
    flash.appendChild(alert);
  });
})();
