// Sorting by a click on a header, and a filter box, for the submissions table.
(function () {
  "use strict";
  var table = document.getElementById("submissions");
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown-count");
  if (!table) { return; }
  var body = table.tBodies[0];

  function key(row, index) {
    var cell = row.cells[index];
    var value = cell.getAttribute("data-v");
    return value === null ? cell.textContent.trim() : value;
  }

  function compare(a, b, numeric) {
    // Empty cells sort last whichever way the column is sorted.
    if (a === "" || b === "") { return a === b ? 0 : (a === "" ? 1 : -1); }
    if (numeric) { return parseFloat(a) - parseFloat(b); }
    return a.localeCompare(b, undefined, {numeric: true});
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    th.tabIndex = 0;
    function sort() {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var numeric = th.getAttribute("data-type") === "number";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
        other.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var ka = key(a, index), kb = key(b, index);
        if (ka === "" || kb === "") { return compare(ka, kb, numeric); }
        return (ascending ? 1 : -1) * compare(ka, kb, numeric);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });

  function applyFilter() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var text = row.textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = String(count);
  }
  filter.addEventListener("input", applyFilter);
  applyFilter();
})();
