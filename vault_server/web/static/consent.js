// The consent screen's preview follows the consumer's choices as they tick (progressive enhancement: without
// this file the "Update the preview" button re-renders the page with the same result). It only hides or shows
// what the server already rendered from the whole request; it never adds data and never talks to the network.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("[data-testid='consent-form']");
  if (!form) return;

  function setHidden(el, hidden) {
    if (hidden) el.setAttribute("hidden", "");
    else el.removeAttribute("hidden");
  }

  function update(detail) {
    var index = detail.getAttribute("data-consent-detail");
    var fields = {};
    detail.querySelectorAll("input[name='d" + index + ".field']").forEach(function (box) {
      fields[box.value] = box.checked;
    });
    var select = detail.querySelector("select[name='d" + index + ".min_stage']");
    var chosen = select ? select.options[select.selectedIndex] : null;
    var minRank = chosen ? Number(chosen.getAttribute("data-rank")) : 0;
    detail.querySelectorAll("[data-consent-category]").forEach(function (cat) {
      var box = cat.querySelector("input[type=checkbox]");
      var shared = box ? box.checked : false;
      var preview = cat.querySelector("[data-preview]");
      var notShared = cat.querySelector("[data-not-shared]");
      if (notShared) setHidden(notShared, shared);
      if (!preview) return;
      setHidden(preview, !shared);
      var visible = 0;
      preview.querySelectorAll("li[data-stage-rank]").forEach(function (item) {
        var shown = Number(item.getAttribute("data-stage-rank")) >= minRank;
        setHidden(item, !shown);
        if (shown) visible += 1;
        item.querySelectorAll("[data-field]").forEach(function (part) {
          setHidden(part, !fields[part.getAttribute("data-field")]);
        });
      });
      var some = preview.querySelector("[data-some]");
      var none = preview.querySelector("[data-none]");
      if (some) setHidden(some, visible === 0);
      if (none) setHidden(none, visible > 0);
    });
  }

  var details = form.querySelectorAll("[data-consent-detail]");
  details.forEach(function (detail) {
    detail.addEventListener("change", function () { update(detail); });
    update(detail);
  });
  // The button is for browsers without script; here the preview is already live.
  form.querySelectorAll("[data-preview-submit]").forEach(function (el) { setHidden(el, true); });
});
