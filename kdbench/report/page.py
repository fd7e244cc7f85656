"""The HTML report's page: its style sheet, its small inline script and the skeleton they go in.

One self-contained file, nothing fetched: the plot first and large (an inline SVG that scales
down to the window), the conclusion, the compact table (sortable by any column: click a
header), the full columns behind a <details> toggle. Hovering a point shows its row of the
table beside the cursor and highlights the row; hovering a row highlights its point. The
script only reads the page (no data of its own), so the page reads the same without it.
"""

from __future__ import annotations

import html

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 16px 20px; color: #222;
       max-width: 1240px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
.meta { color: #555; font-size: 13px; margin: 0 0 12px; padding-left: 18px; }
figure { margin: 0; }
#tradeoff-plot { width: 100%; max-width: 960px; height: auto; display: block; }
#conclusion li, .legend li { margin: 2px 0; }
.legend { font-size: 13px; color: #444; padding-left: 18px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
#pairs-table td:nth-child(2), #pairs-table td:nth-child(3) { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; font-size: 10px; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; font-size: 10px; }
#tradeoff-table { font-size: 14px; }
#tradeoff-table td { white-space: nowrap; }
#tradeoff-table td:first-child { white-space: normal; }
tr.pareto { background: #e8f6ee; font-weight: 600; }
tr.reference { color: #777; font-style: italic; }
tr.hovered td { background: #fff3c4; }
circle.point.hovered { stroke: #000; stroke-width: 3; }
.scroll { overflow-x: auto; max-width: 100%; }
details { margin: 18px 0; }
summary { cursor: pointer; font-weight: 600; font-size: 15px; }
#point-tip { position: fixed; display: none; pointer-events: none; background: #fff;
             border: 1px solid #888; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 6px 8px;
             font-size: 12px; z-index: 10; max-width: 360px; }
#point-tip table { font-size: 12px; }
#point-tip td { border: none; padding: 1px 6px; }
@media (max-width: 860px) {
  body { padding: 10px; }
  #tradeoff-table { font-size: 12px; }
  #tradeoff-table th, #tradeoff-table td { padding: 2px 4px; }
}
"""

SCRIPT = """
(function () {
  function value(cell) {
    var v = cell.getAttribute("data-v");
    return v === null || v === "" ? null : parseFloat(v);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.addEventListener("click", function () {
        var down = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column], y = b.cells[column];
          var p = value(x), q = value(y);
          if (p === null && q === null) {
            return (down ? -1 : 1) * x.textContent.localeCompare(y.textContent);
          }
          if (p === null) { return 1; }  /* missing values last, either way */
          if (q === null) { return -1; }
          return down ? q - p : p - q;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  var tip = document.getElementById("point-tip");
  var table = document.getElementById("tradeoff-table");
  if (!tip || !table) { return; }
  var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
    return th.textContent;
  });
  function rowOf(index) { return table.querySelector('tr[data-row="' + index + '"]'); }
  function pointOf(index) {
    return document.querySelector('#tradeoff-plot circle.point[data-row="' + index + '"]');
  }
  document.querySelectorAll("#tradeoff-plot circle.point").forEach(function (point) {
    var index = point.getAttribute("data-row");
    point.addEventListener("mouseenter", function () {
      var row = rowOf(index);
      point.classList.add("hovered");
      if (!row) { return; }
      row.classList.add("hovered");
      var lines = Array.prototype.map.call(row.cells, function (cell, i) {
        var head = document.createElement("td"), text = document.createElement("td");
        head.textContent = heads[i];
        text.textContent = cell.textContent;
        var line = document.createElement("tr");
        line.appendChild(head);
        line.appendChild(text);
        return line;
      });
      var shown = document.createElement("table");
      lines.forEach(function (line) { shown.appendChild(line); });
      tip.replaceChildren(shown);
      tip.style.display = "block";
    });
    point.addEventListener("mousemove", function (event) {
      var left = event.clientX + 14, top = event.clientY + 14;
      if (left + tip.offsetWidth > window.innerWidth) { left = event.clientX - tip.offsetWidth - 14; }
      if (top + tip.offsetHeight > window.innerHeight) { top = event.clientY - tip.offsetHeight - 14; }
      tip.style.left = left + "px";
      tip.style.top = top + "px";
    });
    point.addEventListener("mouseleave", function () {
      tip.style.display = "none";
      point.classList.remove("hovered");
      var row = rowOf(index);
      if (row) { row.classList.remove("hovered"); }
    });
  });
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
    var index = row.getAttribute("data-row");
    row.addEventListener("mouseenter", function () {
      var point = pointOf(index);
      if (point) { point.classList.add("hovered"); }
    });
    row.addEventListener("mouseleave", function () {
      var point = pointOf(index);
      if (point) { point.classList.remove("hovered"); }
    });
  });
})();
"""


def page(title: str, body: str) -> str:
    """The whole document around `body` (already HTML), titled `title` (plain text)."""
    shown = html.escape(title)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>kdbench report: {shown}</title>\n<style>{STYLE}</style></head><body>\n"
        f"<h1>kdbench report: {shown}</h1>\n{body}\n"
        f'<div id="point-tip" role="tooltip"></div>\n<script>{SCRIPT}</script>\n'
        "</body></html>\n"
    )
