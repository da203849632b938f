// Outpost UI: confirm dialogs for actions and live job progress. The pages
// work without this file: actions then go through a confirmation page and
// pages with running jobs reload themselves.
"use strict";

(function () {
  var base = document.body.dataset.base || "/ui";

  // An action form asks first; confirmed=1 skips the server's confirm page.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.dataset.confirm)) {
        ev.preventDefault();
        return;
      }
      var c = f.querySelector("input[name=confirmed]");
      if (c) c.value = "1";
    });
  });

  function live() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-job]"), function (r) {
      return r.dataset.status === "queued" || r.dataset.status === "running";
    });
  }

  function set(row, field, text) {
    var el = row.querySelector("[data-f=" + field + "]");
    if (el && el.textContent !== text) el.textContent = text;
  }

  function update(row, j) {
    var bar = row.querySelector("progress[data-f=bar]");
    if (bar) bar.value = j.percent;
    set(row, "pct", j.pct_text);
    set(row, "mbps", j.mbps_text);
    set(row, "step", j.step);
    set(row, "state", j.state);
  }

  // Poll the jobs shown as live every 2 s, by their keys (a job ID, or
  // site:ID at HQ); a job that changed status reloads the page, which
  // then shows the outcome and the machine's state.
  function poll() {
    var rows = live();
    if (!rows.length) return;
    var ids = rows.map(function (r) { return r.dataset.job; }).filter(function (v, i, a) { return a.indexOf(v) === i; });
    var q = ids.map(function (k) { return "id=" + encodeURIComponent(k); }).join("&");
    fetch(base + "/jobs.json?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (res.status === 401) { window.location.reload(); throw new Error("logged out"); }
        return res.json();
      })
      .then(function (body) {
        var changed = false;
        body.jobs.forEach(function (j) {
          rows.forEach(function (r) {
            if (r.dataset.job !== j.key) return;
            if (r.dataset.status !== j.status || (j.status === "running") !== !!r.querySelector("progress")) changed = true;
            else update(r, j);
          });
        });
        if (changed) window.location.reload();
        else setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
