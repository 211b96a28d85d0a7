/* The live opening: follows the tender's feed (Server-Sent Events) and shows each event as it
   comes, without reloading. The page arrives with the rows of the events it already had; this
   script adds the rest, cloning the row templates the server renders, with the server's wording
   (#live-config), so a row looks the same however it got there. */
(function () {
  "use strict";

  var root = document.getElementById("apertura");
  if (!root || !("EventSource" in window) || !("content" in document.createElement("template"))) {
    return;
  }
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var lastSeq = Number(root.dataset.after || 0);
  var started = root.dataset.started === "1";

  var opened = document.querySelector("#tabla-abiertas tbody");
  var commitments = document.querySelector("#tabla-compromisos tbody");
  var openedCount = document.getElementById("abiertas");
  var expectedCount = document.getElementById("esperadas");
  var message = document.getElementById("mensaje");
  var status = document.getElementById("estado");
  var connection = document.getElementById("conexion");

  var money = new Intl.NumberFormat("es-MX", { style: "currency", currency: "MXN" });
  var integer = new Intl.NumberFormat("es-MX");
  var clock = new Intl.DateTimeFormat("es-MX", {
    timeZone: "America/Mexico_City",
    day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });

  // dd/mm/aaaa hh:mm in Mexico City time, as the server writes it.
  function when(iso) {
    if (!iso) { return ""; }
    var date = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
    if (isNaN(date.getTime())) { return ""; }
    var parts = {};
    clock.formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts.day + "/" + parts.month + "/" + parts.year + " " + parts.hour + ":" + parts.minute;
  }

  // The server's {field}, {a.b}, {#list} and {n|singular|plural} placeholders, filled from an
  // event's payload (tendering/pages.py describe() does the same).
  function fill(template, data) {
    return template.replace(/\{(#?)([\w.]+)(?:\|([^|}]*)\|([^}]*))?\}/g, function (_, count, path, one, many) {
      var value = path.split(".").reduce(function (found, key) {
        return found !== null && typeof found === "object" ? found[key] : undefined;
      }, data);
      if (count) { value = Array.isArray(value) ? value.length : 0; }
      if (one !== undefined) {
        var n = typeof value === "number" ? value : 0;
        return String(n) + " " + (n === 1 ? one : many);
      }
      return value === null || value === undefined ? "—" : String(value);
    });
  }

  function clone(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function field(row, name, text) {
    var cell = row.querySelector('[data-field="' + name + '"]');
    if (cell) { cell.textContent = text; }
    return cell;
  }

  function byAttribute(body, name, value) {
    var rows = body.querySelectorAll("tr[" + name + "]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute(name) === value) { return rows[i]; }
    }
    return null;
  }

  function show(id, visible) {
    var element = document.getElementById(id);
    if (element) { element.hidden = !visible; }
  }

  function counts(expected) {
    var done = opened.rows.length;
    var current = Number(expectedCount.textContent) || 0;
    openedCount.textContent = String(done);
    expectedCount.textContent = String(Math.max(expected === undefined ? current : expected, done));
  }

  function addCommitment(data) {
    if (byAttribute(commitments, "data-commitment", data.bid)) { return; }
    var row = clone("fila-compromiso");
    row.setAttribute("data-commitment", data.bid);
    row.classList.add("arrived");
    field(row, "bid", data.bid);
    field(row, "received_at", when(data.received_at));
    field(row, "commitment", data.commitment || "—");
    commitments.appendChild(row);
    show("sin-compromisos", false);
  }

  function removeCommitment(bid) {
    var row = bid && byAttribute(commitments, "data-commitment", bid);
    if (row) { row.remove(); }
    show("sin-compromisos", commitments.rows.length > 0 ? false : true);
  }

  function addOpened(data, action) {
    if (!data.bid || byAttribute(opened, "data-bid", data.bid)) { return; }
    var matches = action === "bid.open" && data.check === config.matches;
    var row = clone("fila-abierta");
    row.setAttribute("data-bid", data.bid);
    row.classList.add(matches ? "match" : "mismatch", "arrived");
    field(row, "position", String(opened.rows.length + 1));
    field(row, "razon_social", data.supplier ? data.supplier.razon_social : config.unknownBidder);
    field(row, "rfc", data.supplier ? data.supplier.rfc : "—");
    field(row, "lines", integer.format(Number(data.lines || 0)));
    field(row, "total", money.format(Number(data.total_max || 0)));
    field(row, "commitment", data.commitment || "—");
    field(row, "check", config.checkLabels[matches ? config.matches : config.mismatch])
      .classList.add(matches ? "ok" : "bad");
    field(row, "detail", data.detail || "");
    opened.appendChild(row);
    show("sin-abiertas", false);
    var sealed = byAttribute(commitments, "data-commitment", data.bid);
    if (sealed) {
      sealed.classList.add("opened");
      field(sealed, "state", "Abierta");
    }
  }

  var source = null;

  function handle(event) {
    var item;
    try { item = JSON.parse(event.data); } catch (error) { return; }
    if (!item || item.seq <= lastSeq) { return; }
    lastSeq = item.seq;
    var data = item.data || {};
    switch (item.action) {
      case "bid.seal":
        removeCommitment(data.replaces);
        addCommitment(data);
        if (!started) { counts(commitments.rows.length); }
        break;
      case "bid.withdraw":
        removeCommitment(data.bid);
        if (!started) { counts(commitments.rows.length); }
        break;
      case "tender.opening_started":
        started = true;
        counts((data.bids || []).length);
        show("acta-enlaces", true);
        break;
      case "bid.open":
      case "bid.missing":
        addOpened(data, item.action);
        counts();
        break;
      case "tender.opened":
      case "tender.cancel":
        root.setAttribute("data-live", "terminada");
        connection.textContent = item.action === "tender.opened"
          ? "La apertura terminó." : "La licitación se canceló.";
        if (source) { source.close(); }
        break;
    }
    if (config.messages[item.action]) {
      message.textContent = fill(config.messages[item.action], data);
    }
    var next = config.statusAfter[item.action];
    if (next) {
      status.className = status.className.replace(/\bstatus-\S+/, "status-" + next[0]);
      status.textContent = next[1];
    }
  }

  if (root.dataset.final === "1") { return; }
  source = new EventSource(root.dataset.feed);
  source.onopen = function () {
    root.setAttribute("data-live", "en-vivo");
    connection.textContent = "En vivo: esta página se actualiza sola conforme avanza la apertura.";
  };
  source.onerror = function () {
    if (root.getAttribute("data-live") === "terminada") { return; }
    root.setAttribute("data-live", "reconectando");
    connection.textContent = "Se perdió la conexión; reintentando…";
  };
  Object.keys(config.messages).forEach(function (action) {
    source.addEventListener(action, handle);
  });
})();
