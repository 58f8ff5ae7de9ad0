// Vigil's dashboard: forms go to the JSON API, live tables follow server-sent events, the
// order-book replay steps through an alert's window. No framework, nothing fetched from elsewhere.
"use strict";
(function () {
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  const time = (ns) => {
    const d = new Date(Math.floor(ns / 1e6));
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "." + pad(d.getUTCMilliseconds(), 3);
  };
  const num = (v) => (v == null ? "" : Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6));
  const msgOf = (el) => {
    let n = el.nextElementSibling;
    while (n && !n.classList.contains("msg")) n = n.nextElementSibling;
    return n || (el.closest("section") || document).querySelector(".msg");
  };

  // Forms with data-api: the fields as a JSON object, posted with the session cookie.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.tagName === "BUTTON") continue;
      let v = el.value;
      if ("list" in el.dataset) v = v.split(",").map((x) => x.trim()).filter((x) => x);
      else if ("number" in el.dataset) v = Number(v);
      body[el.name] = v;
    }
    const b = ev.submitter;
    if (b && b.name) body[b.name] = b.value === "true" ? true : b.value === "false" ? false : b.value;
    const msg = msgOf(form);
    let res, data;
    try {
      res = await fetch(form.dataset.api, { method: "POST", headers: { "Content-Type": "application/json", "X-Requested-With": "vigil" }, body: JSON.stringify(body), credentials: "same-origin" });
      data = await res.json().catch(() => ({}));
    } catch (e) {
      if (msg) { msg.className = "msg bad"; msg.textContent = "the server did not answer: " + e; }
      return;
    }
    if (!res.ok) {
      if (msg) { msg.className = "msg bad"; msg.textContent = data.error || res.status + " " + res.statusText; }
      return;
    }
    if (msg) { msg.className = "msg ok"; msg.textContent = data.done === false ? "Proposed (proposal " + data.proposal + "): a supervisor must approve." : "Done."; }
    const then = form.dataset.then || "";
    if (then === "reload") setTimeout(() => location.reload(), data.done === false ? 900 : 0);
    else if (then.startsWith("go:")) location.href = then.slice(3).replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(data[k]));
  });

  // A select that submits its form when changed.
  for (const el of document.querySelectorAll("select[data-autosubmit]")) el.addEventListener("change", () => el.form.submit());

  // Elements with data-refresh: replaced every so often by the same element of a fresh copy.
  for (const el of document.querySelectorAll("[data-refresh]")) {
    const every = Number(el.dataset.refresh) || 5000;
    setInterval(async () => {
      try {
        const r = await fetch(location.href, { credentials: "same-origin" });
        if (!r.ok) return;
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const fresh = doc.getElementById(el.id);
        if (fresh) document.getElementById(el.id).innerHTML = fresh.innerHTML;
      } catch (e) { /* next time */ }
    }, every);
  }

  const list = (a) => (a || []).map(esc).join(", ");
  const alertRow = (a) =>
    '<tr class="new" data-id="' + esc(a.alert_id) + '"><td>' + time(a.ts) + '</td><td><a href="/alerts/' + encodeURIComponent(a.alert_id) + '">' + esc(a.type) + '</a></td><td><span class="lvl ' + esc(a.level) + '">' + esc(a.level) + '</span></td><td class="n">' + Number(a.risk_score).toFixed(2) + "</td><td>" + esc(a.status) + "</td><td>" + list(a.symbols) + "</td><td>" + list(a.accounts) + '</td><td class="story">' + esc(a.description) + "</td></tr>";

  // Live alerts.
  for (const table of document.querySelectorAll("table[data-sse-alerts]")) {
    const account = table.dataset.account || "";
    const es = new EventSource(table.dataset.sseAlerts);
    es.addEventListener("alert", (e) => {
      const a = JSON.parse(e.data);
      if (account && !(a.accounts || []).includes(account)) return;
      const body = table.tBodies[0];
      if (body.querySelector('tr[data-id="' + CSS.escape(a.alert_id) + '"]')) return;
      body.insertAdjacentHTML("afterbegin", alertRow(a));
      while (body.rows.length > 500) body.deleteRow(-1);
    });
    // More were stored than the server still holds for a list catching up: say so.
    es.addEventListener("lagged", (e) => {
      const n = JSON.parse(e.data).missed;
      table.tBodies[0].insertAdjacentHTML("afterbegin", '<tr class="lagged"><td colspan="8">' + esc(String(n)) + " alerts missed here: the Alerts page lists every one</td></tr>");
    });
  }

  // Live trades.
  for (const table of document.querySelectorAll("table[data-sse-trades]")) {
    const es = new EventSource(table.dataset.sseTrades);
    const acc = (a) => (a ? '<a href="/accounts/' + encodeURIComponent(a) + '">' + esc(a) + "</a>" : "");
    es.addEventListener("trade", (e) => {
      const t = JSON.parse(e.data);
      const body = table.tBodies[0];
      body.insertAdjacentHTML("afterbegin", '<tr class="new"><td>' + time(t.ts) + "</td><td>" + esc(t.venue) + '</td><td class="n">' + num(t.price) + '</td><td class="n">' + num(t.qty) + "</td><td>" + acc(t.buy_account) + "</td><td>" + acc(t.sell_account) + "</td><td>" + esc(t.aggressor || "") + "</td></tr>");
      while (body.rows.length > 200) body.deleteRow(-1);
    });
  }

  // Order-book replay: the book before the window, then one event at a time.
  const replay = document.getElementById("replay");
  if (replay) {
    fetch(replay.dataset.src, { credentials: "same-origin" }).then((r) => r.json()).then((m) => {
      if (!m.held) { replay.textContent = m.reason || "no market held"; return; }
      const events = m.events;
      const suspects = new Set(m.suspects);
      const pos = document.getElementById("replay-pos");
      pos.max = String(events.length);
      const bookAt = (n) => {
        const book = new Map();
        for (const l of m.book_before) book.set(l.order_id, { side: l.side, price: l.price, qty: l.qty, account: l.account });
        for (let i = 0; i < n; i++) {
          const e = events[i];
          if (e.type === "new" && e.price != null) book.set(e.order_id, { side: e.side, price: e.price, qty: e.qty, account: e.account });
          else if (e.type === "amend" && book.has(e.order_id)) { const o = book.get(e.order_id); if (e.price != null) o.price = e.price; if (e.qty != null) o.qty = e.qty; }
          else if (e.type === "cancel") book.delete(e.order_id);
          else if (e.type === "trade") for (const id of [e.buy_order_id, e.sell_order_id]) { const o = id && book.get(id); if (o) { o.qty -= e.qty; if (o.qty <= 1e-12) book.delete(id); } }
        }
        return book;
      };
      const draw = (n) => {
        n = Math.max(0, Math.min(events.length, n));
        pos.value = String(n);
        const levels = new Map();
        for (const o of bookAt(n).values()) {
          const k = o.side + ":" + o.price;
          const l = levels.get(k) || { side: o.side, price: o.price, qty: 0, suspect: false };
          l.qty += o.qty; l.suspect = l.suspect || suspects.has(o.account);
          levels.set(k, l);
        }
        const asks = [...levels.values()].filter((l) => l.side === "sell").sort((a, b) => a.price - b.price).slice(0, 10).reverse();
        const bids = [...levels.values()].filter((l) => l.side === "buy").sort((a, b) => b.price - a.price).slice(0, 10);
        const row = (l, cls) => '<tr class="' + (l.suspect ? "suspect" : "") + '"><td class="n ' + cls + '">' + num(l.price) + '</td><td class="n">' + num(l.qty) + "</td><td>" + (l.suspect ? "suspect" : "") + "</td></tr>";
        document.getElementById("replay-book").innerHTML = "<tr><th>price</th><th>qty</th><th></th></tr>" + asks.map((l) => row(l, "ask")).join("") + '<tr><td colspan="3">—</td></tr>' + bids.map((l) => row(l, "bid")).join("");
        const from = Math.max(0, n - 12), to = Math.min(events.length, n + 12);
        let html = "";
        for (let i = from; i < to; i++) {
          const e = events[i];
          const who = e.type === "trade" ? esc(e.buy_account) + "←" + esc(e.sell_account) : esc(e.account || "");
          html += '<li class="' + (i === n - 1 ? "at " : "") + (e.suspect ? "suspect" : "") + '">' + time(e.ts).slice(11) + " " + esc(e.type) + " " + esc(e.side || "") + " " + num(e.qty) + " @ " + num(e.price) + " " + who + "</li>";
        }
        document.getElementById("replay-events").innerHTML = html;
        document.getElementById("replay-at").textContent = n + " / " + events.length + (n > 0 ? " · " + time(events[n - 1].ts) : " · before the window");
      };
      // Start where the suspects' first action is.
      const first = events.findIndex((e) => e.suspect);
      let at = first >= 0 ? first + 1 : 0;
      for (const b of replay.querySelectorAll("button[data-step]")) b.addEventListener("click", () => { at = Math.max(0, Math.min(events.length, at + Number(b.dataset.step))); draw(at); });
      pos.addEventListener("input", () => { at = Number(pos.value); draw(at); });
      draw(at);
    });
  }
})();
