// Progressive enhancement only: every page works without this file.
// 1. <time datetime="..." data-local> shows the instant in the reader's own locale and time zone.
// 2. A chart's day labels (<text data-day="YYYY-MM-DD">, UTC days) are written in the reader's locale.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var day = { year: "numeric", month: "short", day: "numeric" };
  var full = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      el.textContent = when.toLocaleString(undefined, el.dataset.local === "date" ? day : full);
    }
  });
  var short = { day: "numeric", month: "short", timeZone: "UTC" };
  document.querySelectorAll("text[data-day]").forEach(function (el) {
    var date = new Date(el.getAttribute("data-day") + "T00:00:00Z");
    if (!isNaN(date.getTime())) {
      el.textContent = date.toLocaleDateString(undefined, short);
    }
  });
});
