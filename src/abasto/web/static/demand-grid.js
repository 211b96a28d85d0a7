// The planner's demand grid: each row is saved when focus leaves the row (or after a pause in
// typing, if the row looks finished), never on every change of a field, and the server's answer
// never replaces a field that has focus or was edited since the request left. Saving on each
// field's change swapped the whole row while the next field was being typed: keystrokes were
// lost (4000, Tab, 10000 saved as 0000).
(function () {
  "use strict";

  var PAUSE_MS = 2000;
  var SAVE_EVENT = "demand-save";

  function gridRow(node) {
    return node && node.closest ? node.closest("tr[data-grid-row]") : null;
  }

  function quantities(row) {
    return row.querySelectorAll("input.qty");
  }

  // A row with one quantity filled and the other empty is still being typed.
  function looksFinished(row) {
    var filled = 0;
    var inputs = quantities(row);
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value.trim() !== "") filled++;
    }
    return filled === 0 || filled === inputs.length;
  }

  function save(row) {
    clearTimeout(row._abastoPause);
    if (!row.hasAttribute("data-dirty")) return;
    row.removeAttribute("data-dirty");
    // hx-sync="this:queue last" on the row: a save while one is on its way waits for it and
    // then reads the fields (and the version the first answer brought) when it leaves.
    window.htmx.trigger(row, SAVE_EVENT);
  }

  document.addEventListener("input", function (event) {
    var row = gridRow(event.target);
    if (!row) return;
    row.setAttribute("data-dirty", "");
    clearTimeout(row._abastoPause);
    row._abastoPause = setTimeout(function () {
      if (row.contains(document.activeElement) && !looksFinished(row)) return;
      save(row);
    }, PAUSE_MS);
  });

  document.addEventListener("focusout", function (event) {
    var row = gridRow(event.target);
    if (!row || (event.relatedTarget && row.contains(event.relatedTarget))) return;
    save(row);
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "hidden") return;
    document.querySelectorAll("tr[data-grid-row][data-dirty]").forEach(save);
  });

  // What each field held when its request left: an answer may only replace a field that still
  // holds it and has no focus.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt;
    if (!row.hasAttribute || !row.hasAttribute("data-grid-row")) return;
    quantities(row).forEach(function (input) {
      input._abastoSent = input.value;
    });
  });

  function merge(row, html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.querySelector("tr[data-grid-row]");
    if (!fresh) return;
    quantities(fresh).forEach(function (answer) {
      var field = row.querySelector('input.qty[name="' + answer.name + '"]');
      if (!field) return;
      if (field === document.activeElement || field.value !== field._abastoSent) return;
      field.value = answer.value;
      if (answer.hasAttribute("aria-invalid")) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
    // The state cell carries the version the next save must send, and the answer's message.
    var state = row.querySelector("td.state");
    var freshState = fresh.querySelector("td.state");
    if (state && freshState) state.replaceWith(freshState);
    row.className = fresh.className;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var row = event.detail.elt;
    if (!row.hasAttribute || !row.hasAttribute("data-grid-row")) return;
    var status = event.detail.xhr.status;
    event.detail.shouldSwap = false;
    // A refused line (422) or one changed meanwhile (409) comes back as its row with the reason.
    if (status === 200 || status === 409 || status === 422) {
      event.detail.isError = false;
      merge(row, event.detail.serverResponse);
    }
  });

  function unsaved(event) {
    var row = event.detail.elt;
    if (!row.hasAttribute || !row.hasAttribute("data-grid-row")) return;
    row.setAttribute("data-dirty", "");
    var state = row.querySelector("td.state");
    if (!state) return;
    var note = state.querySelector(".field-error.unsaved");
    if (!note) {
      note = document.createElement("span");
      note.className = "field-error unsaved";
      state.appendChild(note);
    }
    note.textContent = "No se guardó (sin respuesta del servidor); se intentará al salir del renglón.";
  }

  document.addEventListener("htmx:sendError", unsaved);
  document.addEventListener("htmx:responseError", unsaved);
})();
